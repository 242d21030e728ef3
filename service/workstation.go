package service

import (
	"context"
	"path"
	"strings"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// workstation is what the workstation of session d runs, read from its
// launch profile when the workstation starts (as a Nimble Studio workstation
// asks GetLaunchProfileInitialization when it boots): the LINUX scripts of
// its studio components, exactly as that operation answers them, its shared
// file systems and the folder its volume is mounted at.
func (s *Service) workstation(ctx context.Context, d *sessionDoc) (opennimble.Workstation, error) {
	var w opennimble.Workstation
	// The profile and its components need not be read from one snapshot:
	// a component changed between the reads is one the workstation could
	// have booted with a moment earlier or later.
	err := s.viewRecords(ctx, func(tx opennimble.Tx) error {
		w = opennimble.Workstation{Home: defaultHome(d.OwnedBy)}
		p, _, err := s.loadLaunchProfile(ctx, tx, d.StudioId, d.LaunchProfileId, false)
		if opennimble.IsCode(err, opennimble.ErrNotFound) {
			return nil // purged since: the workstation runs bare
		} else if err != nil {
			return err
		}
		if c := p.StreamConfiguration; c != nil && c.SessionStorage != nil && c.SessionStorage.Root != nil && c.SessionStorage.Root.Linux != "" {
			w.Home = c.SessionStorage.Root.Linux
		}
		comps, err := s.profileComponents(ctx, tx, p)
		if err != nil {
			return err
		}
		init := &api.LaunchProfileInitialization{Platform: api.LaunchProfilePlatformLinux}
		if len(p.LaunchProfileProtocolVersions) > 0 {
			init.LaunchProfileProtocolVersion = p.LaunchProfileProtocolVersions[0]
		}
		for _, c := range comps {
			addComponent(init, c)
			if fs := sharedFileSystem(c); fs != nil {
				w.SharedFileSystems = append(w.SharedFileSystems, *fs)
			}
		}
		w.SystemScripts = initScripts(init.SystemInitializationScripts)
		w.UserScripts = initScripts(init.UserInitializationScripts)
		return nil
	})
	return w, err
}

// defaultHome is /home/<ownedBy>, with the characters a user name cannot
// hold replaced.
func defaultHome(ownedBy string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, ownedBy)
	if strings.Trim(name, "._") == "" {
		name = "user"
	}
	return path.Join("/home", name)
}

func initScripts(in []*api.LaunchProfileInitializationScript) []opennimble.InitScript {
	out := make([]opennimble.InitScript, 0, len(in))
	for _, sc := range in {
		out = append(out, opennimble.InitScript{ComponentID: sc.StudioComponentId, ComponentName: sc.StudioComponentName, Script: sc.Script})
	}
	return out
}

// sharedFileSystem is the mount a SHARED_FILE_SYSTEM component asks for,
// or nil.
func sharedFileSystem(c *studioComponentDoc) *opennimble.SharedFileSystem {
	if c.Type != api.StudioComponentTypeSharedFileSystem || c.Configuration == nil || c.Configuration.SharedFileSystemConfiguration == nil {
		return nil
	}
	fs := c.Configuration.SharedFileSystemConfiguration
	return &opennimble.SharedFileSystem{ComponentID: c.StudioComponentId, ComponentName: c.Name,
		Endpoint: fs.Endpoint, ShareName: fs.ShareName, MountPoint: fs.LinuxMountPoint}
}
