package sigv4

import "testing"

func TestCanonicalPaths(t *testing.T) {
	tests := []struct {
		wire, want, alt string
	}{
		{"/", "/", ""},
		{"/2020-08-01/studios/stu-1", "/2020-08-01/studios/stu-1", ""},
		{testARNPath, "/2020-08-01/tags/arn%253Aaws%253Animble%253Aus-west-2%253A123456789012%253Astudio%252Fstu-abc", ""},
		{"/a%20b/c~d_e.f", "/a%2520b/c~d_e.f", ""},
		{"/a:b@c!", "/a%3Ab%40c%21", ""},
		{"/a//b/./c/../d/", "/a//b/./c/../d/", "/a/b/d/"},
		{"/a/..", "/a/..", "/"},
		{"/a/.b/", "/a/.b/", ""},
	}
	for _, tt := range tests {
		got, alt := canonicalPaths(tt.wire)
		if got != tt.want || alt != tt.alt {
			t.Errorf("canonicalPaths(%q) = %q, %q; want %q, %q", tt.wire, got, alt, tt.want, tt.alt)
		}
	}
}

func TestCanonicalQueries(t *testing.T) {
	tests := []struct {
		raw, skip, want, alt string
	}{
		{"", "", "", ""},
		{"b=2&a=1", "", "a=1&b=2", ""},
		{"k=zeta&k=a%2Fb&k=a-b&k=a%20b", "", "k=a%20b&k=a%2Fb&k=a-b&k=zeta", "k=a%20b&k=a-b&k=a%2Fb&k=zeta"},
		{"nextToken=ab%3D%2B%2Fc%20d~%2A", "", "nextToken=ab%3D%2B%2Fc%20d~%2A", ""},
		{"a+b=c+d", "", "a%20b=c%20d", ""},
		{"flag&x=", "", "flag=&x=", ""},
		{"x=%zz", "", "x=%25zz", ""},
		{"a=1&&b=2", "", "a=1&b=2", ""},
		{"e=%7e%21", "", "e=~%21", ""},
		{"X-Amz-Signature=abc&X-Amz-Date=1", sigQueryKey, "X-Amz-Date=1", ""},
	}
	for _, tt := range tests {
		got, alt := canonicalQueries(tt.raw, tt.skip)
		if got != tt.want || alt != tt.alt {
			t.Errorf("canonicalQueries(%q) = %q, %q; want %q, %q", tt.raw, got, alt, tt.want, tt.alt)
		}
	}
}

func TestAppendValue(t *testing.T) {
	tests := []struct {
		in   string
		mode int
		want string
		amb  bool
	}{
		{"  plain value ", collapseWhitespace, "plain value", false},
		{"a  b\t\tc", collapseWhitespace, "a b c", true},
		{"a  b\t\tc", collapseSpaces, "a b\t\tc", true},
		{"a  b\t\tc", trimOnly, "a  b\t\tc", true},
		{"a \t b", collapseWhitespace, "a b", true},
		{"a \t b", collapseSpaces, "a \t b", true},
	}
	for _, tt := range tests {
		got, amb := appendValue(nil, tt.in, tt.mode)
		if string(got) != tt.want || amb != tt.amb {
			t.Errorf("appendValue(%q, %d) = %q, %v; want %q, %v", tt.in, tt.mode, got, amb, tt.want, tt.amb)
		}
	}
}
