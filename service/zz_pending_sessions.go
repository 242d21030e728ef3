package service

// Temporary: methods not written yet. Each is deleted from this file when it is implemented.

import (
	"context"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func (s *Service) CreateStreamingSession(ctx context.Context, in *api.CreateStreamingSessionRequest) (*api.CreateStreamingSessionResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "CreateStreamingSession is not implemented yet")
}

func (s *Service) CreateStreamingSessionStream(ctx context.Context, in *api.CreateStreamingSessionStreamRequest) (*api.CreateStreamingSessionStreamResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "CreateStreamingSessionStream is not implemented yet")
}

func (s *Service) DeleteStreamingSession(ctx context.Context, in *api.DeleteStreamingSessionRequest) (*api.DeleteStreamingSessionResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "DeleteStreamingSession is not implemented yet")
}

func (s *Service) GetStreamingSession(ctx context.Context, in *api.GetStreamingSessionRequest) (*api.GetStreamingSessionResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetStreamingSession is not implemented yet")
}

func (s *Service) GetStreamingSessionBackup(ctx context.Context, in *api.GetStreamingSessionBackupRequest) (*api.GetStreamingSessionBackupResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetStreamingSessionBackup is not implemented yet")
}

func (s *Service) GetStreamingSessionStream(ctx context.Context, in *api.GetStreamingSessionStreamRequest) (*api.GetStreamingSessionStreamResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetStreamingSessionStream is not implemented yet")
}

func (s *Service) ListStreamingSessionBackups(ctx context.Context, in *api.ListStreamingSessionBackupsRequest) (*api.ListStreamingSessionBackupsResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "ListStreamingSessionBackups is not implemented yet")
}

func (s *Service) ListStreamingSessions(ctx context.Context, in *api.ListStreamingSessionsRequest) (*api.ListStreamingSessionsResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "ListStreamingSessions is not implemented yet")
}

func (s *Service) StartStreamingSession(ctx context.Context, in *api.StartStreamingSessionRequest) (*api.StartStreamingSessionResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "StartStreamingSession is not implemented yet")
}

func (s *Service) StopStreamingSession(ctx context.Context, in *api.StopStreamingSessionRequest) (*api.StopStreamingSessionResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "StopStreamingSession is not implemented yet")
}

func (s *Service) reconcileStreamingSession(ctx context.Context, id string) error { return nil }

func (s *Service) reconcileStreamingBackup(ctx context.Context, id string) error { return nil }

func (s *Service) reconcileStreamingStream(ctx context.Context, id string) error { return nil }
