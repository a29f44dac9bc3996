package console

import (
	"net/http"
)

// routes: pages (shells anyone may load), static files, and everything
// carrying data behind the key check.
func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	m.Handle("GET /console/static/", http.StripPrefix("/console/", http.FileServerFS(staticFS)))
	for _, p := range pages {
		m.HandleFunc("GET "+p.Path, c.page(p))
	}
	data := map[string]http.HandlerFunc{
		"GET /console/api/session":                 c.session,
		"POST /console/api/chat":                   c.chat,
		"GET /console/f/deployments":               c.deploymentList,
		"GET /console/f/deployments/{name}":        c.deploymentDetail,
		"GET /console/f/deployments/{name}/charts": c.deploymentCharts,
		"GET /console/f/charts":                    c.allCharts,
		"GET /console/f/models":                    c.modelOptions,
		"GET /console/f/jobs":                      c.jobList,
		"GET /console/f/traces":                    c.traceList,
		"GET /console/f/traces/{id}":               c.traceWaterfall,
	}
	for pattern, h := range data {
		m.Handle(pattern, c.auth(h))
	}
	if c.cfg.API != nil {
		m.Handle("/console/api/v1/", c.auth(http.StripPrefix("/console/api", c.cfg.API)))
	}
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "unknown_url", "no console page at "+r.Method+" "+r.URL.Path)
	})
}
