package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"github.com/opennimble/opennimble/app"
)

// EnvPrefix prefixes the environment variable of every flag:
// --data-dir is OPENNIMBLE_DATA_DIR.
const EnvPrefix = "OPENNIMBLE_"

func envName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// configFlag adds --config to fs.
func configFlag(fs *pflag.FlagSet, configFile *string) {
	fs.StringVar(configFile, "config", "", "optional TOML configuration file whose keys are the flag names; every command takes the keys it has and ignores the server's others (env "+envName("config")+")")
}

// serverKeys are the settings of `opennimble serve`: a configuration file
// may hold them all, and other commands ignore those they do not have.
func serverKeys() map[string]bool {
	keys := map[string]bool{}
	newServe().Flags().VisitAll(func(f *pflag.Flag) { keys[f.Name] = true })
	return keys
}

// resolve fills every flag the command line did not set, first from the
// environment, then from the configuration file (a TOML table whose keys are
// the flag names), so that the precedence is flags > environment > file >
// defaults. The file is configFile, else the value of the command's
// --config flag, else $OPENNIMBLE_CONFIG. It may hold any setting of the
// server: those fs does not have are ignored; a key no command knows is an
// error.
func resolve(fs *pflag.FlagSet, configFile string) error {
	if configFile == "" {
		if f := fs.Lookup("config"); f != nil {
			configFile = f.Value.String()
		}
	}
	if configFile == "" {
		configFile = os.Getenv(envName("config"))
	}
	var file map[string]any
	if configFile != "" {
		if _, err := toml.DecodeFile(configFile, &file); err != nil {
			return fmt.Errorf("config file %s: %w", configFile, err)
		}
		known := serverKeys()
		for key := range file {
			if key == "config" || (fs.Lookup(key) == nil && !known[key]) {
				return fmt.Errorf("config file %s: unknown setting %q", configFile, key)
			}
		}
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			s := fmt.Sprint(v)
			if list, isList := v.([]any); isList {
				parts := make([]string, len(list))
				for i, x := range list {
					parts[i] = fmt.Sprint(x)
				}
				s = strings.Join(parts, ",")
			}
			if e := fs.Set(f.Name, s); e != nil {
				err = fmt.Errorf("config file %s: %s = %q: %w", configFile, f.Name, s, e)
			}
		}
	})
	return err
}

// requireData refuses a data folder that holds no opennimble data, so that
// a command given a mistyped --data-dir says so instead of creating an
// empty database there. A PostgreSQL store needs no data folder.
func requireData(cfg app.Config) error {
	if cfg.SharedStore() {
		return nil
	}
	if _, err := os.Stat(app.DBPath(cfg.DataDir)); err != nil {
		return fmt.Errorf("%s holds no opennimble data (no %s): give the data folder of a server that has run (--data-dir, %s or data-dir in --config)",
			cfg.DataDir, filepath.Base(app.DBPath(cfg.DataDir)), envName("data-dir"))
	}
	return nil
}
