package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// A commit the store confirmed neither way answers 503 with outcome
// "unknown" and the turn's id, in a body the API document's error schema
// of the dialect accepts (Focal's, or OpenAI's on the OpenAI-compatible
// routes); other errors carry neither field.
func TestUnknownOutcomeIsInTheErrorBody(t *testing.T) {
	for schemaName, openAI := range map[string]bool{"Error": false, "OpenAIErrorBody": true} {
		t.Run(schemaName, func(t *testing.T) {
			schema := loadOpenAPI(t).Components.Schemas[schemaName].Value
			answer := func(err error) map[string]any {
				w := httptest.NewRecorder()
				c, _ := gin.CreateTestContext(w)
				c.Request = httptest.NewRequest(http.MethodPost, "/v1/chat", nil)
				bindState(c, &requestState{id: "req-1"}, c.Request.Context())
				c.Set(keyOpenAIDialect, openAI)
				writeError(c, err)
				var body map[string]any
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
				require.NoError(t, schema.VisitJSON(body), "%s", w.Body.Bytes())
				return body
			}
			const turnID = "01a214ac-7779-7e0d-94ee-de32782414b7"
			body := answer(domain.UnknownOutcome(turnID, errors.New("i/o timeout")))
			e := body["error"].(map[string]any)
			assert.Equal(t, "STORE_UNAVAILABLE", e["code"])
			assert.Equal(t, "unknown", e["outcome"])
			assert.Equal(t, turnID, e["turn_id"])

			e = answer(domain.Errorf(domain.CodeStoreUnavailable, "down"))["error"].(map[string]any)
			assert.NotContains(t, e, "outcome")
			assert.NotContains(t, e, "turn_id")
		})
	}
}
