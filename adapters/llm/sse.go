package llm

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/openai/openai-go/v3/packages/ssestream"
)

// sseDecoder reads a text/event-stream into events exactly as the SDKs'
// own decoder does (lines split at LF with one CR before it dropped, an
// event dispatched at an empty line when it has data, "data" lines joined
// each with a trailing LF, comments and unknown fields ignored, lines up to
// 32 MiB), but holds no read buffer while it waits: the SDKs' decoder keeps
// a bufio.Scanner's 4 KiB buffer for as long as the stream is open, and a
// stream waiting minutes for a slow model held it all along (make bench
// measures idle streams). At a line boundary with nothing pending it waits
// on a one-byte read; the buffer comes from a pool when bytes arrive and
// goes back when they are consumed.
type sseDecoder struct {
	rc  io.ReadCloser
	evt ssestream.Event
	// buf[r:w] are bytes read and not yet split into lines; buf is nil
	// whenever nothing is pending.
	buf  *[sseReadSize]byte
	r, w int
	// long is a line that did not fit in buf, gathered so far.
	long []byte
	// readErr ends the input once the bytes before it are consumed (io.EOF
	// for a clean end); err is what Err reports.
	readErr error
	err     error
	done    bool
	one     [1]byte
}

const (
	// sseReadSize is the size of a pooled read buffer (bufio.Scanner's
	// first buffer, the SDKs' decoder's).
	sseReadSize = 4096
	// sseMaxLine is the longest line read, as the SDKs' decoder allows.
	sseMaxLine = bufio.MaxScanTokenSize << 9
	// sseMaxEmptyReads is how many reads returning nothing in a row make
	// io.ErrNoProgress, as for bufio.Scanner.
	sseMaxEmptyReads = 100
)

var sseBuffers = sync.Pool{New: func() any { return new([sseReadSize]byte) }}

var _ ssestream.Decoder = (*sseDecoder)(nil)

func newSSEDecoder(rc io.ReadCloser) *sseDecoder { return &sseDecoder{rc: rc} }

// Next reads the next event; false at the end of the stream or on an error
// (Err says which).
func (d *sseDecoder) Next() bool {
	d.evt = ssestream.Event{}
	event := ""
	var data []byte
	for {
		line, ok := d.line()
		if !ok {
			return false
		}
		if len(line) == 0 {
			if len(data) == 0 {
				event = ""
				continue
			}
			d.evt = ssestream.Event{Type: event, Data: data}
			return true
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(name) {
		case "event":
			event = string(value)
		case "data":
			data = append(data, value...)
			data = append(data, '\n')
		}
	}
}

// Event is the event Next read.
func (d *sseDecoder) Event() ssestream.Event { return d.evt }

// Close closes the body.
func (d *sseDecoder) Close() error { return d.rc.Close() }

// Err is the read error that ended the stream, nil for a clean end.
func (d *sseDecoder) Err() error { return d.err }

// line returns the next line without its line ending; it is valid until
// the next call. At the end of the input a last unterminated line is
// returned too, then false.
func (d *sseDecoder) line() ([]byte, bool) {
	for !d.done {
		if d.buf != nil {
			if i := bytes.IndexByte(d.buf[d.r:d.w], '\n'); i >= 0 {
				line := d.buf[d.r : d.r+i]
				d.r += i + 1
				return d.joined(line), true
			}
		}
		if d.readErr != nil {
			return d.last()
		}
		d.keepPartial()
		d.fill()
	}
	return nil, false
}

// joined is line after what long gathered of it, without a trailing CR.
func (d *sseDecoder) joined(line []byte) []byte {
	if d.long != nil {
		line = append(d.long, line...)
		d.long = nil
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// last returns what is left at the end of the input as a last line, once,
// and settles the stream.
func (d *sseDecoder) last() ([]byte, bool) {
	var rest []byte
	if d.buf != nil {
		rest = d.buf[d.r:d.w]
	}
	if len(rest) > 0 || d.long != nil {
		// Copied: the buffer goes back to the pool below.
		line := append([]byte(nil), d.joined(rest)...)
		d.r = d.w
		return line, true
	}
	d.release()
	d.done = true
	if !errors.Is(d.readErr, io.EOF) {
		d.err = d.readErr
	}
	return nil, false
}

// keepPartial makes room for more input: a partial line is moved to the
// front of the buffer, or to long when it fills the buffer, and an empty
// buffer goes back to the pool.
func (d *sseDecoder) keepPartial() {
	if d.buf == nil {
		return
	}
	pending := d.buf[d.r:d.w]
	switch {
	case len(pending) == 0:
		d.release()
	case len(pending) == sseReadSize:
		d.long = append(d.long, pending...)
		d.release()
		if len(d.long) >= sseMaxLine {
			d.long = nil
			d.readErr = bufio.ErrTooLong
		}
	case d.r > 0:
		d.w = copy(d.buf[:], pending)
		d.r = 0
	}
}

// fill reads more input. With nothing pending it waits on one byte before
// it takes a buffer.
func (d *sseDecoder) fill() {
	if d.readErr != nil {
		return
	}
	for range sseMaxEmptyReads {
		var n int
		var err error
		if d.buf == nil {
			n, err = d.rc.Read(d.one[:])
			if n > 0 {
				d.buf = sseBuffers.Get().(*[sseReadSize]byte)
				d.buf[0], d.r, d.w = d.one[0], 0, 1
			}
		} else {
			n, err = d.rc.Read(d.buf[d.w:])
			d.w += n
		}
		if err != nil {
			d.readErr = err
		}
		if n > 0 || err != nil {
			return
		}
	}
	d.readErr = io.ErrNoProgress
}

// release gives the read buffer back to the pool.
func (d *sseDecoder) release() {
	if d.buf != nil {
		sseBuffers.Put(d.buf)
		d.buf, d.r, d.w = nil, 0, 0
	}
}
