package portal

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/opennimble/opennimble/api"
)

// view is what every page template gets.
type view struct {
	Title     string
	Studio    *api.Studio
	Principal string
	CSRF      string
	Admin     bool
	Flash     []flash
	Base      string // /portal/<studioName>
	Path      string // the page's own path, where its forms come back to
	Data      any
}

var funcs = template.FuncMap{
	"when": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"iso": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	// words turns an enum value into words: STOP_IN_PROGRESS, "stop in progress".
	"words": func(s any) string {
		return strings.ToLower(strings.ReplaceAll(toString(s), "_", " "))
	},
	// tone classes a state for its colour: ok, busy, bad, off.
	"tone": func(s any) string {
		v := toString(s)
		switch {
		case v == "READY":
			return "ok"
		case strings.HasSuffix(v, "_FAILED"):
			return "bad"
		case strings.HasSuffix(v, "_IN_PROGRESS"):
			return "busy"
		}
		return "off"
	},
}

func toString(s any) string { return fmt.Sprint(s) }

// The pages: each is the layout, the shared fragments and its own file.
var pageNames = []string{"signin", "home", "session", "stream", "admin", "error"}

func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/fragments.html"))
	pages := map[string]*template.Template{"fragments": base}
	for _, n := range pageNames {
		pages[n] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+n+".html"))
	}
	return pages
}

// render writes a whole page.
func (p *Portal) render(q *req, status int, page, title string, data any) {
	v := view{Title: title, Data: data, Principal: q.sess.principal.ID, CSRF: q.sess.csrf, Path: q.r.URL.Path}
	if q.studio != nil {
		v.Studio, v.Base = q.studio, "/portal/"+q.studio.StudioName
		v.Admin = q.isAdmin(p)
	}
	if q.token != "" {
		v.Flash = p.sessions.takeFlash(q.token)
	}
	p.write(q.w, status, page, "layout.html", v)
}

// fragment writes one fragment of a page, for the live updates.
func (p *Portal) fragment(q *req, name string, data any) {
	v := view{Studio: q.studio, Base: "/portal/" + q.studio.StudioName, Principal: q.sess.principal.ID, CSRF: q.sess.csrf,
		Path: q.r.URL.Query().Get("page"), Data: data}
	p.write(q.w, http.StatusOK, "fragments", name, v)
}

func (p *Portal) write(w http.ResponseWriter, status int, page, name string, v any) {
	var b bytes.Buffer
	if err := p.pages[page].ExecuteTemplate(&b, name, v); err != nil {
		p.log.Error("portal: template", "page", page, "template", name, "error", err)
		http.Error(w, "The page could not be drawn; this has been logged.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
