package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestReadmeDefaultsMatchHelp: every default the README's Configuration
// table gives as one literal value is the default `serve --help` shows, and
// every other default cell says what the flag's help says.
func TestReadmeDefaultsMatchHelp(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)
	if i := strings.Index(section, "\n## Configuration\n"); i >= 0 {
		section = section[i+1:]
	} else {
		t.Fatal("README.md has no Configuration section")
	}
	if i := strings.Index(section[3:], "\n## "); i >= 0 {
		section = section[:i+3]
	}
	flags := newServe().Flags()
	row := regexp.MustCompile("^\\| `--([a-z0-9-]+)` \\| (.*?) \\|")
	literal := regexp.MustCompile("^`([^`]*)`$")
	checked := 0
	for _, line := range strings.Split(section, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := flags.Lookup(m[1])
		if f == nil {
			continue // a family of flags, e.g. --quota-*
		}
		checked++
		if lit := literal.FindStringSubmatch(m[2]); lit != nil && !strings.Contains(lit[1], "<") {
			if !sameDefault(f, lit[1]) {
				t.Errorf("README: --%s defaults to %q; serve --help: %q", f.Name, lit[1], f.DefValue)
			}
			continue
		}
		// A cell in words ("none", "off") stands for a default --help
		// does not show: a zero value.
		if !slices.Contains([]string{"", "false", "[]", "0", "0s"}, f.DefValue) {
			t.Errorf("README: --%s defaults to %s; serve --help: %q", f.Name, m[2], f.DefValue)
		}
		if words := strings.ReplaceAll(m[2], "`", ""); strings.Contains(words, ", else") && !strings.Contains(f.Usage, words) {
			t.Errorf("README: --%s defaults to %q; serve --help says %q", f.Name, words, f.Usage)
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d rows of the README's Configuration table", checked)
	}
}

// sameDefault compares a flag's default with the README's, as values.
func sameDefault(f *pflag.Flag, readme string) bool {
	switch f.Value.Type() {
	case "duration":
		a, err1 := time.ParseDuration(f.DefValue)
		b, err2 := time.ParseDuration(readme)
		return err1 == nil && err2 == nil && a == b
	case "stringSlice":
		return f.DefValue == "["+readme+"]"
	}
	return f.DefValue == readme
}
