package service

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"

	opennimble "github.com/opennimble/opennimble"
)

// pager makes and checks nextToken values. A token is the keyset position
// (the Seq of the last item returned) bound to the operation and its filters
// by an HMAC under a key kept in the store, so that tokens are opaque, cannot
// be forged or moved to another query, and work on every replica and after a
// restart.
type pager struct {
	key []byte
}

const pageKeyMeta = "pagination-key"

func newPager(ctx context.Context, st opennimble.Store) (*pager, error) {
	var key []byte
	err := st.Update(ctx, func(tx opennimble.Tx) error {
		k, err := tx.GetMeta(ctx, pageKeyMeta)
		if err == nil {
			key = k
			return nil
		}
		if !errors.Is(err, opennimble.ErrNoRecord) {
			return err
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		return tx.PutMeta(ctx, pageKeyMeta, key)
	})
	if err != nil {
		return nil, err
	}
	return &pager{key: key}, nil
}

// scope identifies a query: the operation and every filter value.
func scope(op string, filters ...string) string {
	return op + "\x00" + strings.Join(filters, "\x00")
}

func (p *pager) mac(scope string, after int64) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(scope))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(after))
	m.Write(b[:])
	return m.Sum(nil)[:16]
}

// token returns the nextToken that continues scope after the item with Seq after.
func (p *pager) token(scope string, after int64) string {
	b := make([]byte, 8, 24)
	binary.BigEndian.PutUint64(b, uint64(after))
	b = append(b, p.mac(scope, after)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// position checks a nextToken against scope and returns its keyset position;
// an empty token is the start (0).
func (p *pager) position(scope, token string) (int64, error) {
	if token == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 24 {
		return 0, invalidToken()
	}
	after := int64(binary.BigEndian.Uint64(b[:8]))
	if !hmac.Equal(b[8:], p.mac(scope, after)) {
		return 0, invalidToken()
	}
	return after, nil
}

func invalidToken() error {
	return opennimble.Errorf(opennimble.ErrValidation,
		"Invalid nextToken: it was not issued by this service for this request and its parameters").With("fieldName", "nextToken")
}

// page lists one page of documents matching q (whose After and Limit it sets)
// and keep, starting at token. It keeps reading until the page is full or
// the store has no more, so that filters the store cannot apply still give
// full pages; it returns the token of the next page, "" at the end.
func page[T any, P docPtr[T]](ctx context.Context, s *Service, tx opennimble.Tx, sc string, token string, limit int, q opennimble.ListQuery, keep func(P) bool) ([]P, string, error) {
	after, err := s.pages.position(sc, token)
	if err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = s.cfg.PageSize
	}
	var out []P
	for {
		q.After = after
		q.Limit = limit + 1 - len(out)
		docs, recs, err := list[T, P](ctx, tx, q)
		if err != nil {
			return nil, "", err
		}
		for i, d := range docs {
			if keep != nil && !keep(d) {
				after = recs[i].Seq
				continue
			}
			if len(out) == limit {
				// There is at least one more item: the next page starts after
				// the last item returned.
				return out, s.pages.token(sc, after), nil
			}
			out = append(out, d)
			after = recs[i].Seq
		}
		if len(docs) < q.Limit {
			return out, "", nil
		}
	}
}
