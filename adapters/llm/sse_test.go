package llm

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/stretchr/testify/require"
)

// sseCases are streams the decoder must read exactly as the SDKs' own
// decoder does.
var sseCases = map[string]string{
	"one event":              "data: {\"a\":1}\n\n",
	"two events":             "data: {\"a\":1}\n\ndata: {\"a\":2}\n\n",
	"multi-line data":        "data: first\ndata: second\ndata:\ndata: fourth\n\n",
	"comments":               ": keep-alive\n\n: ping\ndata: x\n: between\n\n",
	"CRLF":                   "event: delta\r\ndata: x\r\ndata: y\r\n\r\ndata: z\r\n\r\n",
	"bare CRs stay":          "data: a\r\r\n\r\ndata: b\rc\n\n",
	"event names":            "event: message_start\ndata: {}\n\nevent: ping\ndata: {}\n\ndata: no name\n\n",
	"event without data":     "event: lost\n\ndata: x\n\n",
	"event name kept":        "event: a\nevent: b\ndata: x\n\n",
	"no space after colon":   "data:x\nevent:e\n\n",
	"two spaces":             "data:  x\n\n",
	"colon in value":         "data: a:b: c\n\n",
	"field without colon":    "data\n\ndata: x\n\n",
	"unknown fields":         "id: 7\nretry: 1000\nfoo: bar\ndata: x\n\n",
	"blank lines":            "\n\n\ndata: x\n\n\n\ndata: y\n\n",
	"no final blank line":    "data: x\n\ndata: cut",
	"final LF only":          "data: x\n\ndata: y\n",
	"final CR at EOF":        "data: x\n\r",
	"final CRLF":             "data: x\n\r\n",
	"empty":                  "",
	"only comment":           ": hi",
	"done marker":            "data: {\"a\":1}\n\ndata: [DONE]\n\n",
	"unicode":                "data: héllo → 世界\n\n",
	"line of 4095":           "data: " + strings.Repeat("a", 4089) + "\n\n",
	"line of 4096":           "data: " + strings.Repeat("b", 4090) + "\n\n",
	"line of 4097":           "data: " + strings.Repeat("c", 4091) + "\n\n",
	"CR at buffer end":       "data: " + strings.Repeat("d", 4089) + "\r\n\r\n",
	"long line":              "data: " + strings.Repeat("e", 100_000) + "\ndata: after\n\n",
	"long line then short":   "data: " + strings.Repeat("f", 9000) + "\n\ndata: short\n\n",
	"long line without end":  "data: x\n\ndata: " + strings.Repeat("g", 10_000),
	"long comment":           ": " + strings.Repeat("h", 20_000) + "\ndata: x\n\n",
	"error event":            "event: error\ndata: {\"error\":{\"message\":\"boom\"}}\n\n",
	"many small events":      strings.Repeat("data: {\"choices\":[{\"delta\":{\"content\":\"w\"}}]}\n\n", 300),
	"LF after long CR chunk": strings.Repeat("\r", 5000) + "\n\ndata: x\n\n",
}

type sseRead struct {
	events []ssestream.Event
	err    error
}

func readAllEvents(d ssestream.Decoder) sseRead {
	var out sseRead
	for d.Next() {
		out.events = append(out.events, d.Event())
	}
	out.err = d.Err()
	return out
}

func sdkRead(r io.Reader) sseRead {
	return readAllEvents(ssestream.NewDecoder(&http.Response{Header: http.Header{}, Body: io.NopCloser(r)}))
}

// chunkings deliver the same bytes in different reads.
var chunkings = map[string]func(io.Reader) io.Reader{
	"whole":         func(r io.Reader) io.Reader { return r },
	"one byte":      iotest.OneByteReader,
	"halves":        iotest.HalfReader,
	"data with EOF": iotest.DataErrReader,
	"7 bytes":       func(r io.Reader) io.Reader { return &chunked{r: r, n: 7} },
	"4097 bytes":    func(r io.Reader) io.Reader { return &chunked{r: r, n: 4097} },
}

type chunked struct {
	r io.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

func TestSSEDecoderReadsAsTheSDKDecoderDoes(t *testing.T) {
	for name, in := range sseCases {
		want := sdkRead(strings.NewReader(in))
		for how, chunk := range chunkings {
			t.Run(name+"/"+how, func(t *testing.T) {
				got := readAllEvents(newSSEDecoder(io.NopCloser(chunk(strings.NewReader(in)))))
				require.Equal(t, want, got)
			})
		}
	}
}

// A read error ends the stream with that error after the events before it,
// as with the SDKs' decoder; io.EOF is a clean end.
func TestSSEDecoderEndsOnAReadErrorAsTheSDKDecoderDoes(t *testing.T) {
	in := "data: one\n\ndata: two\n\ndata: cut"
	for _, cut := range []int{0, 5, 11, 12, 20, len(in)} {
		broken := func() io.Reader {
			return io.MultiReader(strings.NewReader(in[:cut]), iotest.ErrReader(io.ErrUnexpectedEOF))
		}
		want := sdkRead(broken())
		got := readAllEvents(newSSEDecoder(io.NopCloser(broken())))
		require.Equal(t, want, got, "cut at %d: %q", cut, in[:cut])
		require.ErrorIs(t, got.err, io.ErrUnexpectedEOF)
	}
	for _, cut := range []int{11, 12, len(in)} {
		want := sdkRead(&lastReadFails{data: in[:cut]})
		got := readAllEvents(newSSEDecoder(io.NopCloser(&lastReadFails{data: in[:cut]})))
		require.Equal(t, want, got, "error with the last bytes, cut at %d", cut)
		require.ErrorIs(t, got.err, io.ErrClosedPipe)
	}
}

// lastReadFails returns io.ErrClosedPipe along with its last bytes.
type lastReadFails struct{ data string }

func (r *lastReadFails) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	if r.data == "" {
		return n, io.ErrClosedPipe
	}
	return n, nil
}

// A line longer than 32 MiB fails the stream with bufio.ErrTooLong, as the
// SDKs' decoder does; one just under reads whole.
func TestSSEDecoderBoundsLinesAsTheSDKDecoderDoes(t *testing.T) {
	tooLong := "data: x\n\ndata: " + strings.Repeat("z", sseMaxLine) + "\n\n"
	got := readAllEvents(newSSEDecoder(io.NopCloser(strings.NewReader(tooLong))))
	require.ErrorIs(t, got.err, bufio.ErrTooLong)
	require.Equal(t, sdkRead(strings.NewReader(tooLong)), got)

	long := "data: " + strings.Repeat("y", sseMaxLine-4096) + "\n\n"
	got = readAllEvents(newSSEDecoder(io.NopCloser(strings.NewReader(long))))
	require.NoError(t, got.err)
	require.Len(t, got.events, 1)
	require.Equal(t, sseMaxLine-4096+1, len(got.events[0].Data), "the line's value and a LF")
}

// A body that keeps returning nothing fails with io.ErrNoProgress instead
// of spinning, as bufio.Scanner does.
func TestSSEDecoderGivesUpOnABodyThatReturnsNothing(t *testing.T) {
	got := readAllEvents(newSSEDecoder(io.NopCloser(emptyReads{})))
	require.ErrorIs(t, got.err, io.ErrNoProgress)
	require.Equal(t, sdkRead(emptyReads{}), got)
}

type emptyReads struct{}

func (emptyReads) Read([]byte) (int, error) { return 0, nil }

// Between events, with nothing pending, the decoder waits on a one-byte
// read and holds no buffer: what an idle stream keeps is the decoder alone.
func TestSSEDecoderHoldsNoBufferWhileItWaits(t *testing.T) {
	pr, pw := io.Pipe()
	reads := make(chan int, 16)
	d := newSSEDecoder(io.NopCloser(readSizes{r: pr, sizes: reads}))
	next := make(chan bool)
	go func() { next <- d.Next() }()
	require.Equal(t, 1, <-reads, "the first read, before anything arrived, asks for one byte")

	_, err := pw.Write([]byte("data: {\"a\":1}\n\n"))
	require.NoError(t, err)
	require.Greater(t, <-reads, 1, "once bytes arrive the rest is read in bulk")
	require.True(t, <-next)
	require.Equal(t, ssestream.Event{Data: []byte("{\"a\":1}\n")}, d.Event())

	go func() { next <- d.Next() }()
	require.Equal(t, 1, <-reads, "waiting for the next event asks for one byte")
	require.Nil(t, d.buf, "no read buffer is held while waiting")

	require.NoError(t, pw.Close())
	require.False(t, <-next)
	require.NoError(t, d.Err())
}

// readSizes reports the size of every read asked of r.
type readSizes struct {
	r     io.Reader
	sizes chan<- int
}

func (r readSizes) Read(p []byte) (int, error) {
	r.sizes <- len(p)
	return r.r.Read(p)
}

// Close closes the body, as the SDKs' decoder does.
func TestSSEDecoderCloseClosesTheBody(t *testing.T) {
	body := &closeCounter{Reader: strings.NewReader("data: x\n\n")}
	d := newSSEDecoder(body)
	require.True(t, d.Next())
	require.NoError(t, d.Close())
	require.Equal(t, 1, body.closed)
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error {
	c.closed++
	return nil
}

func FuzzSSEDecoderReadsAsTheSDKDecoderDoes(f *testing.F) {
	for _, in := range sseCases {
		if len(in) < 20_000 {
			f.Add(in, uint8(0))
			f.Add(in, uint8(3))
		}
	}
	f.Fuzz(func(t *testing.T, in string, chunk uint8) {
		var r io.Reader = strings.NewReader(in)
		if chunk > 0 {
			r = &chunked{r: r, n: int(chunk)}
		}
		want := sdkRead(strings.NewReader(in))
		got := readAllEvents(newSSEDecoder(io.NopCloser(r)))
		if !errors.Is(got.err, want.err) {
			t.Fatalf("error %v, the SDK's %v", got.err, want.err)
		}
		require.Equal(t, want.events, got.events)
	})
}
