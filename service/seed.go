package service

import (
	"context"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// SeedBackups writes n READY backups of one session straight into a store,
// through the store's interface and the service's own document format, in
// transactions of batch records. It exists for benchmarks that need a store
// holding a million backups without a million stop cycles.
func SeedBackups(ctx context.Context, st opennimble.Store, cfg Config, ids opennimble.IDs, studioID, sessionID, launchProfileID, ownedBy string, n, batch int) ([]string, error) {
	if batch <= 0 {
		batch = 10000
	}
	s := &Service{cfg: cfg}
	out := make([]string, 0, n)
	created := time.Now().UTC().Add(-time.Duration(n) * time.Second).Truncate(time.Millisecond)
	for done := 0; done < n; {
		size := min(batch, n-done)
		var made []string
		err := st.Update(ctx, func(tx opennimble.Tx) error {
			made = made[:0]
			for i := 0; i < size; i++ {
				id := ids.New("bak")
				at := created.Add(time.Duration(done+i) * time.Second)
				d := &backupDoc{
					StreamingSessionBackup: api.StreamingSessionBackup{
						Arn: s.arn(opennimble.KindStreamingBackup, id), BackupId: id, CreatedAt: &at,
						LaunchProfileId: launchProfileID, OwnedBy: ownedBy, SessionId: sessionID,
						State: api.StreamingSessionStateReady, StatusCode: api.StreamingSessionStatusCodeStreamingSessionReady,
						StatusMessage: "Backup ready",
					},
					StudioId: studioID, VolumeGeneration: 1, UpdatedAt: &at,
				}
				if _, err := put(ctx, tx, nil, d); err != nil {
					return err
				}
				made = append(made, id)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, made...)
		done += size
	}
	return out, nil
}
