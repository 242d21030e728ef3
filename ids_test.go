package opennimble

import (
	"strings"
	"testing"
)

// A seeded sequence is the same on every run, and Reset starts it again.
func TestSeededIDsRepeatAndReset(t *testing.T) {
	a, b := NewSeededIDs(7), NewSeededIDs(7)
	first := []string{a.New("ses"), a.Token(5), a.New("bak")}
	if got := []string{b.New("ses"), b.Token(5), b.New("bak")}; strings.Join(got, " ") != strings.Join(first, " ") {
		t.Fatalf("same seed, different ids: %v and %v", first, got)
	}
	a.Reset()
	if id := a.New("ses"); id != first[0] {
		t.Fatalf("after Reset: %s, want %s", id, first[0])
	}
	if id := NewSeededIDs(8).New("ses"); id == first[0] {
		t.Fatalf("another seed gave the same id %s", id)
	}
	if len(first[0]) != len("ses-")+IDLength || len(first[1]) != 5 {
		t.Fatalf("lengths: %q %q", first[0], first[1])
	}
}

// Random strings draw only from the alphabet asked for.
func TestRandomString(t *testing.T) {
	s := RandomString(200, "AB")
	if len(s) != 200 || strings.Trim(s, "AB") != "" {
		t.Fatalf("RandomString(200, AB) = %q", s)
	}
	if !strings.Contains(s, "A") || !strings.Contains(s, "B") {
		t.Fatalf("200 draws of two letters used one: %q", s)
	}
	id := RandomIDs{}.New("stu")
	if !strings.HasPrefix(id, "stu-") || strings.Trim(id[4:], idAlphabet) != "" || len(id) != 4+IDLength {
		t.Fatalf("RandomIDs.New = %q", id)
	}
}

// Every character of the alphabet is about equally likely: no modulo bias
// (62 does not divide 256) and none lost or favoured by the rejection.
func TestRandomStringUniform(t *testing.T) {
	for _, alphabet := range []string{idAlphabet, "abc", "0123456789"} {
		const per = 2000
		s := RandomString(per*len(alphabet), alphabet)
		counts := map[rune]int{}
		for _, c := range s {
			counts[c]++
		}
		// Binomial with mean per and sd < sqrt(per) ≈ 45: six sd either
		// side fails a fair source about once in 10^8 runs.
		for _, c := range alphabet {
			if n := counts[c]; n < per-270 || n > per+270 {
				t.Errorf("alphabet %q: %q drawn %d times in %d, want about %d", alphabet, c, n, len(s), per)
			}
		}
	}
}
