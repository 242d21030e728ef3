package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// EnvPrefix prefixes the environment variable of every flag:
// --data-dir is OPENNIMBLE_DATA_DIR.
const EnvPrefix = "OPENNIMBLE_"

func envName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// resolve fills every flag the command line did not set, first from the
// environment, then from the configuration file (a TOML table whose keys are
// the flag names), so that the precedence is flags > environment > file >
// defaults.
func resolve(fs *pflag.FlagSet, configFile string) error {
	var file map[string]any
	if configFile != "" {
		if _, err := toml.DecodeFile(configFile, &file); err != nil {
			return fmt.Errorf("config file %s: %w", configFile, err)
		}
		for key := range file {
			if f := fs.Lookup(key); f == nil || key == "config" {
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
