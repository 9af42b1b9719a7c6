package domain_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"focal/domain"
)

func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://crm.example.com/hook", "https://crm.example.com/hook"},
		{"https://bot:s3cret@crm.example.com/hook", "https://bot:REDACTED@crm.example.com/hook"},
		{"https://bot@crm.example.com/hook", "https://bot@crm.example.com/hook"},
		{"https://crm.example.com/hook?api_key=abc123&region=eu", "https://crm.example.com/hook?api_key=REDACTED&region=eu"},
		{"https://x.example.com/?token=t&Signature=s&X-Amz-Credential=c&page=2", "https://x.example.com/?Signature=REDACTED&X-Amz-Credential=REDACTED&page=2&token=REDACTED"},
		{"https://x.example.com/?key=1&sig=2&secret=3&password=4", "https://x.example.com/?key=REDACTED&password=REDACTED&secret=REDACTED&sig=REDACTED"},
		{"http://u:p@%zz", "http://REDACTED@%zz"},
	} {
		assert.Equal(t, tt.want, domain.RedactURL(tt.in), tt.in)
	}
}

func TestRedactTextFindsURLsInMessages(t *testing.T) {
	in := `retrying: Post "http://10.0.0.1:9/x?api_key=abc123": dial tcp: refused; base https://a:b@llm.example.com/v1 failed`
	out := domain.RedactText(in)
	assert.NotContains(t, out, "abc123")
	assert.NotContains(t, out, "a:b@")
	assert.Contains(t, out, `Post "http://10.0.0.1:9/x?api_key=REDACTED": dial tcp: refused`)
	assert.Equal(t, "no url here", domain.RedactText("no url here"))
}

func TestURLOrigin(t *testing.T) {
	assert.Equal(t, "https://crm.example.com:8443", domain.URLOrigin("https://bot:pw@crm.example.com:8443/hooks/T00/B00/XXXX?k=v"))
	assert.Equal(t, "", domain.URLOrigin("not a url"))
}
