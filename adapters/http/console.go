package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
	"path"

	"github.com/gin-gonic/gin"

	"focal/domain"
)

// consoleFiles is the operator console: plain HTML, CSS and JavaScript
// modules, served as they are (no build step, nothing from other origins).
//
//go:embed console
var consoleFiles embed.FS

// consolePolicy keeps the console to its own files and this API: no inline
// script or style, no other origin, no framing.
const consolePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleTypes are the media types of the console's files, by extension.
var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// ConsoleRoutes serves the console at /console. The files are public; every
// call the console makes carries the token the operator pasted.
type ConsoleRoutes struct{ files fs.FS }

// NewConsoleRoutes returns the console's endpoints.
func NewConsoleRoutes() *ConsoleRoutes {
	files, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return &ConsoleRoutes{files: files}
}

// Register implements Routes.
func (r *ConsoleRoutes) Register(public *gin.RouterGroup, _ *gin.RouterGroup) {
	public.GET("/console", func(c *gin.Context) { r.serve(c, "index.html") })
	public.GET("/console/:asset", func(c *gin.Context) { r.serve(c, c.Param("asset")) })
}

func (r *ConsoleRoutes) serve(c *gin.Context, name string) {
	contentType, known := consoleTypes[path.Ext(name)]
	body, err := fs.ReadFile(r.files, name)
	if !known || err != nil {
		writeError(c, domain.Errorf(domain.CodeNotFound, "the console has no file %q", name))
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", consolePolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	c.Data(http.StatusOK, contentType, body)
}
