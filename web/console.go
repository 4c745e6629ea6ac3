package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// The console is plain HTML, CSS and JavaScript embedded in the binary: no build step and no
// CDN, because a port's inspection hall may have no internet.
//
//go:embed console
var consoleFiles embed.FS

// consoleHandler serves the embedded console under /console/. Pages are revalidated on every
// load (no-cache) so that a new binary's console is picked up at once.
func (s *server) consoleHandler() gin.HandlerFunc {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	h := http.StripPrefix("/console", http.FileServer(http.FS(sub)))
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		if strings.HasSuffix(c.Request.URL.Path, "/index.html") {
			// http.FileServer would redirect to the directory; serve the page at / instead.
			c.Redirect(http.StatusMovedPermanently, strings.TrimSuffix(c.Request.URL.Path, "index.html"))
			return
		}
		h.ServeHTTP(c.Writer, c.Request)
	}
}

// toConsole sends a browser at / to the console.
func (s *server) toConsole(c *gin.Context) {
	c.Redirect(http.StatusFound, "/console/")
}
