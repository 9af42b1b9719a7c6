package llm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"focal/test/fakellm"
)

// BenchmarkOpenAIStream measures what one short OpenAI stream allocates
// over h2c, as make bench's idle streams talk to the model, the fake
// provider's side included (same process). Most of the client's part is
// the opening (the request's parameters, the SDK's request, its
// encoding): garbage once the stream waits, left in the heap beside what
// thousands of waiting streams keep.
func BenchmarkOpenAIStream(b *testing.B) {
	srv := fakellm.New()
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.Protocols = new(http.Protocols)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true)
	ts.Start()
	defer ts.Close()
	defer srv.Close()
	url := ts.URL
	m, err := NewOpenAI(OpenAIConfig{BaseURL: url + "/v1", APIKey: "sk-test-key-123456", Model: "gpt-test", HTTPClient: NewH2CClient(0)})
	if err != nil {
		b.Fatal(err)
	}
	req := chatRequest("hello")
	b.ReportAllocs()
	for b.Loop() {
		srv.Enqueue(fakellm.Reply{Deltas: []string{"a"}})
		if _, _, err := collect(context.Background(), m, req); err != nil {
			b.Fatal(err)
		}
	}
}
