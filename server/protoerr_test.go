package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestAWSProtocolError(t *testing.T) {
	const hdrs = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	for _, tt := range []struct{ in, wantMsg string }{
		{"HTTP/1.1 400 Bad Request" + hdrs + "400 Bad Request", "%zz"},
		{"HTTP/1.1 400 Bad Request: missing required Host header" + hdrs + "400 Bad Request: missing required Host header", "missing required Host header"},
		{"HTTP/1.1 431 Request Header Fields Too Large" + hdrs + "431 Request Header Fields Too Large", "headers are larger"},
		{"HTTP/1.1 501 Not Implemented" + hdrs + "Unsupported transfer encoding", "Unsupported transfer encoding"},
	} {
		out, ok := awsProtocolError([]byte(tt.in))
		if !ok {
			t.Fatalf("%q not rewritten", tt.in)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Message, Code string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 400 || resp.Header.Get("x-amzn-ErrorType") != "ValidationException" || body.Code != "ValidationException" ||
			!strings.Contains(body.Message, tt.wantMsg) || resp.Header.Get("x-amzn-RequestId") == "" || !resp.Close {
			t.Errorf("%q → %d %v %+v", tt.in, resp.StatusCode, resp.Header, body)
		}
	}
	for _, in := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: x\r\n\r\n{}",
		"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Amzn-Requestid: r\r\n\r\nno",
		"{\"message\":\"HTTP/1.1 400\"}",
	} {
		if _, ok := awsProtocolError([]byte(in)); ok {
			t.Errorf("%q rewritten", in)
		}
	}
}

func TestRedactPath(t *testing.T) {
	for in, want := range map[string]string{
		"/_stream/abc.def":          "/_stream/REDACTED",
		"/_stream/abc.def/":         "/_stream/REDACTED/",
		"/_stream/abc.def/vnc.html": "/_stream/REDACTED/vnc.html",
		"/_stream/":                 "/_stream/",
		"/2020-08-01/studios":       "/2020-08-01/studios",
		"/portal/x":                 "/portal/x",
	} {
		if got := RedactPath(in); got != want {
			t.Errorf("RedactPath(%q) = %q, want %q", in, got, want)
		}
	}
}
