package backup

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// MemStore is a Backend in memory, for tests and as the smallest example of
// the contract: anything that can put, get, list and delete whole objects
// and hold a shared/exclusive lock can keep a repository.
type MemStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	readers int
	writer  bool
}

var _ Backend = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{objects: map[string][]byte{}} }

func (s *MemStore) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validKey(key) {
		return fmt.Errorf("backup store: invalid key %q", key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = append([]byte(nil), data...)
	return nil
}

func (s *MemStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[key]
	if !ok {
		return nil, ErrNotExist
	}
	return append([]byte(nil), b...), nil
}

func (s *MemStore) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[key]
	if !ok {
		return nil, ErrNotExist
	}
	if offset < 0 || length < 0 || offset+length > int64(len(b)) {
		return nil, fmt.Errorf("backup store: %s has %d bytes, not %d from %d: %w", key, len(b), length, offset, io.ErrUnexpectedEOF)
	}
	return append([]byte(nil), b[offset:offset+length]...), nil
}

func (s *MemStore) Stat(ctx context.Context, key string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[key]
	if !ok {
		return 0, ErrNotExist
	}
	return int64(len(b)), nil
}

func (s *MemStore) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	s.mu.Lock()
	type obj struct {
		key  string
		size int64
	}
	var found []obj
	for k, b := range s.objects {
		if strings.HasPrefix(k, prefix) {
			found = append(found, obj{k, int64(len(b))})
		}
	}
	s.mu.Unlock()
	for _, o := range found {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(o.key, o.size); err != nil {
			return err
		}
	}
	return nil
}

func (s *MemStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	return nil
}

func (s *MemStore) Sync(ctx context.Context) error { return ctx.Err() }

func (s *MemStore) Lock(ctx context.Context, exclusive bool) (func(), error) {
	wait := time.Millisecond
	for {
		s.mu.Lock()
		free := !s.writer && (!exclusive || s.readers == 0)
		if free {
			if exclusive {
				s.writer = true
			} else {
				s.readers++
			}
		}
		s.mu.Unlock()
		if free {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if exclusive {
				s.writer = false
			} else {
				s.readers--
			}
		})
	}, nil
}
