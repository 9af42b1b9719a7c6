package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"focal/adapters/bundleschema"
)

// SchemaRoutes serves the JSON Schema of agent bundle files, public like the
// API document: editors fetch it without a token.
type SchemaRoutes struct{ bundle []byte }

// NewSchemaRoutes generates the bundle schema once, at start-up.
func NewSchemaRoutes() (*SchemaRoutes, error) {
	doc, err := bundleschema.Generate()
	if err != nil {
		return nil, err
	}
	return &SchemaRoutes{bundle: doc}, nil
}

// Register implements Routes.
func (s *SchemaRoutes) Register(public *gin.RouterGroup, _ *gin.RouterGroup) {
	public.GET(bundleschema.Path, func(c *gin.Context) {
		c.Data(http.StatusOK, "application/schema+json", s.bundle)
	})
}
