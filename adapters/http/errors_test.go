package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"

	"focal/domain"
)

// Retry-After is whole seconds rounded up: a client waiting what it says
// never comes back early.
func TestRetryAfterIsRoundedUpToWholeSeconds(t *testing.T) {
	for retryAfter, want := range map[time.Duration]string{
		1500 * time.Millisecond: "2",
		300 * time.Millisecond:  "1",
		2 * time.Second:         "2",
	} {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/v1/chat", nil)
		writeError(c, &domain.Error{Code: domain.CodeRateLimitExceeded, Message: "slow down", RetryAfter: retryAfter})
		assert.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, want, w.Header().Get("Retry-After"), "RetryAfter %s", retryAfter)
	}
}
