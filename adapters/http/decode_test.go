package httpapi

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"focal/domain"
)

// A body is one JSON value and nothing after it but space: trailing junk,
// even a closing bracket json.Decoder.More does not count as a value, is
// INVALID_REQUEST, strictly or leniently decoded.
func TestTrailingJunkAfterTheBodyIsInvalid(t *testing.T) {
	for _, body := range []string{`{}]`, `{}}`, `{} x`, `{} {}`} {
		for _, strict := range []bool{true, false} {
			var v map[string]any
			err := decodeBody([]byte(body), &v, strict)
			assert.Equal(t, domain.CodeInvalidRequest, domain.ErrorCodeOf(err), "body %q, strict %v", body, strict)
		}
	}
	var v map[string]any
	assert.NoError(t, decodeBody([]byte(" {} \n"), &v, true), "space around the value is fine")
}
