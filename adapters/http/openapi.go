package httpapi

import (
	"bytes"
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDocument is the OpenAPI 3 document of every route: the API's
// contract, written by hand and checked by the tests (openapi_test.go
// validates it and matches its paths to the router's routes; the component
// tests validate every real response against it).
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns a copy of the document served at /openapi.json.
func OpenAPIDocument() []byte { return bytes.Clone(openAPIDocument) }

// OpenAPIRoutes serves GET /openapi.json.
type OpenAPIRoutes struct{}

// NewOpenAPIRoutes returns the endpoint of the API document.
func NewOpenAPIRoutes() *OpenAPIRoutes { return &OpenAPIRoutes{} }

// Register implements Routes: the document is public.
func (*OpenAPIRoutes) Register(public *gin.RouterGroup, _ *gin.RouterGroup) {
	public.GET("/openapi.json", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIDocument)
	})
}
