package browsertest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserSeesPage starts the real browser, renders a page served on
// loopback, reads its text back and keeps a screenshot.
func TestBrowserSeesPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>t</title><h1 id="h">hello browser</h1>`)
	}))
	defer srv.Close()
	ctx := New(t, Options{Width: 390, Height: 600})
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("#h"))
	if err != nil {
		t.Fatal(err)
	}
	if text != "hello browser" {
		t.Fatalf("page text %q", text)
	}
	_, png := Screenshot(t, ctx, "page")
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot is not a PNG")
	}
}
