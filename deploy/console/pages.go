package console

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFiles embed.FS

var staticFS fs.FS = staticFiles

// page is one entry of the console's navigation.
type page struct {
	Path  string // ServeMux pattern
	Nav   string // link text; "" for pages reached from another
	Href  string
	Title string
	File  string // its template, defining "content"
}

// pages: a new page (fine-tuning jobs) is one more entry and one template.
var pages = []page{
	{Path: "/console/{$}", Nav: "Deployments", Href: "/console/", Title: "Deployments", File: "deployments.html"},
	{Path: "/console/deployments/{name}", Title: "Deployment", File: "deployment.html"},
	{Path: "/console/fine-tuning", Nav: "Fine-tuning", Href: "/console/fine-tuning", Title: "Fine-tuning", File: "finetuning.html"},
	{Path: "/console/playground", Nav: "Playground", Href: "/console/playground", Title: "Playground", File: "playground.html"},
	{Path: "/console/traces", Nav: "Traces", Href: "/console/traces", Title: "Traces", File: "traces.html"},
	{Path: "/console/traces/{id}", Title: "Trace", File: "trace.html"},
}

var funcs = template.FuncMap{"pct": func(f float64) string { return formatPct(f) }}

// base holds the layout and every fragment; each page adds its content.
var base = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/_*.html"))

var pageTemplates = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, p := range pages {
		m[p.File] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+p.File))
	}
	return m
}()

// pageData is what the layout and a page's shell see.
type pageData struct {
	Title  string
	Nav    []page
	Active string
	Name   string // the {name} or {id} of the path
}

func (c *Console) page(p page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if name == "" {
			name = r.PathValue("id")
		}
		d := pageData{Title: p.Title, Active: p.Href, Name: name}
		for _, q := range pages {
			if q.Nav != "" {
				d.Nav = append(d.Nav, q)
			}
		}
		if p.Href == "" && len(d.Nav) > 0 {
			d.Active = map[string]string{"deployment.html": "/console/", "trace.html": "/console/traces"}[p.File]
		}
		render(w, pageTemplates[p.File], "layout", d)
	}
}

// render executes into a buffer first, so a template error is a 500 with
// a message, never half a page.
func render(w http.ResponseWriter, t *template.Template, name string, data any) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		writeError(w, http.StatusInternalServerError, "render_failed", "console template "+name+": "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// fragment renders one of base's fragments.
func fragment(w http.ResponseWriter, name string, data any) { render(w, base, name, data) }
