package service

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// The model's bounds of CreateStreamingSessionStream's expirationInSeconds.
const (
	minStreamExpirationSeconds = 60
	maxStreamExpirationSeconds = 3600
)

// streamSecretLength makes stream URLs unguessable: 40 characters of
// [0-9A-Za-z] are about 238 bits.
const streamSecretLength = 40

func (s *Service) CreateStreamingSessionStream(ctx context.Context, in *api.CreateStreamingSessionStreamRequest) (*api.CreateStreamingSessionStreamResponse, error) {
	return idempotent(ctx, s, "CreateStreamingSessionStream", in.ClientToken, in, func(t *txn) (*api.CreateStreamingSessionStreamResponse, error) {
		expiry, err := streamExpiration(in.ExpirationInSeconds)
		if err != nil {
			return nil, err
		}
		d, _, err := s.loadSession(ctx, t, in.StudioId, in.SessionId)
		if err != nil {
			return nil, err
		}
		if err := requireSessionState(d, api.StreamingSessionStateReady); err != nil {
			return nil, err
		}
		st := s.newStream(ctx, d, expiry)
		if _, err := put(ctx, t, nil, st); err != nil {
			return nil, err
		}
		if err := t.schedule(ctx, opennimble.KindStreamingStream, st.StreamId, st.CreatedAt.Add(s.cfg.TransitionDelay)); err != nil {
			return nil, err
		}
		return &api.CreateStreamingSessionStreamResponse{Stream: &st.StreamingSessionStream}, nil
	})
}

func streamExpiration(seconds *int32) (time.Duration, error) {
	if seconds == nil {
		return streamExpirationDefault * time.Second, nil
	}
	if *seconds < minStreamExpirationSeconds || *seconds > maxStreamExpirationSeconds {
		return 0, opennimble.Errorf(opennimble.ErrValidation, "expirationInSeconds must be between %d and %d, not %d",
			minStreamExpirationSeconds, maxStreamExpirationSeconds, *seconds).With("fieldName", "expirationInSeconds")
	}
	return time.Duration(*seconds) * time.Second, nil
}

// newStream builds a stream whose URL is served by this server: the token
// is the stream id (to find it) and a secret (to prove the URL was handed
// out), so nothing but the stream document needs to be stored.
func (s *Service) newStream(ctx context.Context, d *sessionDoc, expiry time.Duration) *streamDoc {
	now := s.now()
	id := s.ids.New("str")
	secret := s.ids.Token(streamSecretLength)
	return &streamDoc{StudioId: d.StudioId, SessionId: d.SessionId, Secret: secret, UpdatedAt: &now,
		StreamingSessionStream: api.StreamingSessionStream{
			CreatedAt:  &now,
			CreatedBy:  caller(ctx),
			ExpiresAt:  ptr(now.Add(expiry)),
			OwnedBy:    d.OwnedBy,
			State:      api.StreamingSessionStreamStateCreateInProgress,
			StatusCode: api.StreamingSessionStreamStatusCodeStreamCreateInProgress,
			StreamId:   id,
			Url:        strings.TrimSuffix(s.cfg.StreamBaseURL, "/") + "/_stream/" + id + "." + secret,
		}}
}

func (s *Service) GetStreamingSessionStream(ctx context.Context, in *api.GetStreamingSessionStreamRequest) (*api.GetStreamingSessionStreamResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.GetStreamingSessionStreamResponse, error) {
		if _, _, err := s.loadSession(ctx, tx, in.StudioId, in.SessionId); err != nil {
			return nil, err
		}
		st, _, err := get[streamDoc](ctx, tx, opennimble.KindStreamingStream, in.StreamId)
		if err != nil {
			return nil, err
		}
		if st == nil || st.SessionId != in.SessionId {
			return nil, opennimble.NotFound("streaming session stream", in.StreamId)
		}
		return &api.GetStreamingSessionStreamResponse{Stream: &st.StreamingSessionStream}, nil
	})
}

// StreamPageInfo is what the stream page served at a stream's URL shows.
type StreamPageInfo struct {
	StreamID  string
	SessionID string
	StudioID  string
	OwnedBy   string
	ExpiresAt time.Time
}

// StreamPage checks the token of a stream URL: it answers for a READY stream
// that has not expired, of a session that is READY. Anything else is
// ResourceNotFoundException, so that a wrong token learns nothing, except an
// expired stream, which is AccessDeniedException, as for expired presigned
// URLs.
func (s *Service) StreamPage(ctx context.Context, token string) (*StreamPageInfo, error) {
	id, secret, _ := strings.Cut(token, ".")
	notFound := opennimble.Errorf(opennimble.ErrNotFound, "No stream is served at this address")
	return read(ctx, s, func(tx opennimble.Tx) (*StreamPageInfo, error) {
		st, _, err := get[streamDoc](ctx, tx, opennimble.KindStreamingStream, id)
		if err != nil {
			return nil, err
		}
		if st == nil || secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(st.Secret)) != 1 {
			return nil, notFound
		}
		if !s.clock.Now().Before(*st.ExpiresAt) {
			return nil, opennimble.Errorf(opennimble.ErrAccessDenied, "This stream expired at %s", st.ExpiresAt.Format(time.RFC3339))
		}
		sess, _, err := get[sessionDoc](ctx, tx, opennimble.KindStreamingSession, st.SessionId)
		if err != nil {
			return nil, err
		}
		if st.State != api.StreamingSessionStreamStateReady || sess == nil || sess.State != api.StreamingSessionStateReady {
			return nil, notFound
		}
		return &StreamPageInfo{StreamID: st.StreamId, SessionID: st.SessionId, StudioID: st.StudioId, OwnedBy: st.OwnedBy, ExpiresAt: *st.ExpiresAt}, nil
	})
}
