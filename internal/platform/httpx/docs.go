package httpx

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

//go:embed docsui/*
var docsFiles embed.FS

const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// mountDocs serves Swagger UI for the spec at specURL. Its assets are
// embedded, so the page works without network access; huma's built-in page
// would load them from a CDN.
func mountDocs(r chi.Router, title, specURL string) {
	sub, _ := fs.Sub(docsFiles, "docsui")
	tmpl := template.Must(template.ParseFS(sub, "index.html"))
	var page bytes.Buffer
	if err := tmpl.Execute(&page, map[string]string{"Title": title, "Base": "/docs/assets", "SpecURL": specURL}); err != nil {
		panic(err) // the template and its data are fixed at compile time
	}
	started := time.Now()
	r.Get("/docs", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Security-Policy", docsCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, req, "index.html", started, bytes.NewReader(page.Bytes()))
	})
	assets := http.StripPrefix("/docs/assets/", http.FileServerFS(sub))
	r.Get("/docs/assets/*", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		assets.ServeHTTP(w, req)
	})
}
