package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"time"
)

// streamTap stands between the fake model and whoever streams from it,
// Focal or the bench's own client, and notes when it passes each of the
// model's content deltas on. That moment is "the model's delta" of the
// streaming target, read on the bench's own clock, the one the client's
// events are read on: a token's delay is then the time from its delta to
// its event in the same stream, rather than a gap of one stream against a
// gap of another that the host's stalls hit at other moments.
type streamTap struct {
	model  string // the fake model's base URL
	client *http.Client
	served chan tapRecord // one record per request passed on, in order
	server *http.Server
	url    string
}

// tapRecord is one request the tap passed on: the model's status and when
// each content delta went on, in order.
type tapRecord struct {
	status int
	sent   []time.Time
	err    error
}

// startTap serves a tap in front of the model at modelURL on a free
// loopback port.
func startTap(modelURL string) (*streamTap, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &streamTap{model: modelURL, served: make(chan tapRecord, 16), url: "http://" + ln.Addr().String(),
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	t.server = &http.Server{Handler: t, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = t.server.Serve(ln) }()
	return t, nil
}

func (t *streamTap) close() { _ = t.server.Close() }

func (t *streamTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := t.relay(w, r)
	select {
	case t.served <- rec:
	default: // nobody takes records: the stream that asked for them fails on the count
	}
}

// relay passes the request on to the model and its answer back event by
// event, each flushed at once, and notes when each content delta went.
// The time is read before the write: what the write costs the tap is
// counted in the delay, as it would be were the model writing itself.
// The model's answer is read to its end even once the caller has gone:
// callers stop at the last event and close the connection, often before
// the tap has read the end of the body after it, which is no failure; a
// caller gone early fails the tap's next write instead.
func (t *streamTap) relay(w http.ResponseWriter, r *http.Request) tapRecord {
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, t.model+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return tapRecord{err: err}
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Accept-Encoding") // the tap reads the events: none compressed
	res, err := t.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return tapRecord{err: err}
	}
	defer res.Body.Close()
	maps.Copy(w.Header(), res.Header)
	w.WriteHeader(res.StatusCode)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	rec := tapRecord{status: res.StatusCode}
	in := bufio.NewReader(res.Body)
	var event []byte
	for {
		line, err := in.ReadBytes('\n')
		event = append(event, line...)
		if ended := len(bytes.TrimSpace(line)) == 0; (ended || err != nil) && len(bytes.TrimSpace(event)) > 0 {
			at := time.Now()
			if _, werr := w.Write(event); werr != nil {
				rec.err = werr
				return rec
			}
			_ = rc.Flush()
			if isContentDelta(event) {
				rec.sent = append(rec.sent, at)
			}
			event = event[:0]
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rec.err = err
			}
			return rec
		}
	}
}

// isContentDelta tells whether an OpenAI stream event carries text.
func isContentDelta(event []byte) bool {
	for line := range bytes.Lines(event) {
		data, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data:"))
		if !ok {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal(bytes.TrimSpace(data), &chunk) == nil && len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			return true
		}
	}
	return false
}

// forget throws away the records of requests no stream has claimed.
func (t *streamTap) forget() {
	for {
		select {
		case <-t.served:
		default:
			return
		}
	}
}

// record is the record of the one request the stream just read made:
// none within a few seconds, another beside it (a retry), a status other
// than 200 or a relay that failed make the stream fail.
func (t *streamTap) record() (tapRecord, error) {
	var rec tapRecord
	select {
	case rec = <-t.served:
	case <-time.After(5 * time.Second):
		return rec, errors.New("the model was not called")
	}
	select {
	case <-t.served:
		return rec, errors.New("the model was called more than once")
	default:
	}
	switch {
	case rec.err != nil:
		return rec, fmt.Errorf("passing the model's answer on: %w", rec.err)
	case rec.status != http.StatusOK:
		return rec, fmt.Errorf("the model answered %d", rec.status)
	}
	return rec, nil
}
