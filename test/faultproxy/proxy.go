// Package faultproxy is a TCP proxy for the MongoDB or the PostgreSQL wire
// protocol that injects faults per command: it sits between Focal and its
// test server and, for a seeded random share of the commands, drops the
// connection after the command was sent and before its reply (the server
// applied it; the client cannot know), drops it before the command reaches
// the server, or delays the reply; it can also refuse a share of new
// connections. On MongoDB it reads only message headers (length, ids,
// opcode) and the first key of a command's body, its name; on PostgreSQL
// only message types and lengths (postgres.go).
package faultproxy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what the proxy does to one command.
type Fault int

// Faults.
const (
	// Pass forwards the command and its reply.
	Pass Fault = iota
	// DropAfterSend forwards the command and, once the server answered,
	// closes both connections instead of passing the reply on: the server
	// applied the command; the client cannot know.
	DropAfterSend
	// DropBeforeSend closes both connections instead of forwarding.
	DropBeforeSend
	// DelayReply holds the reply for a random time between Config.MinDelay
	// and Config.MaxDelay.
	DelayReply
)

func (f Fault) String() string {
	return [...]string{"pass", "drop after send", "drop before send", "delay reply"}[f]
}

// Config configures a proxy.
type Config struct {
	// Target is the server's address (host:port).
	Target string
	// Seed makes the choice of faults repeatable.
	Seed uint64
	// Rate is the share of commands that get a fault (0..1).
	Rate float64
	// Weights of DropAfterSend, DropBeforeSend and DelayReply among the
	// faulted commands; all zero means equal.
	Weights [3]float64
	// MinDelay and MaxDelay bound a delayed reply (uniform between).
	MinDelay, MaxDelay time.Duration
	// RefuseRate is the share of new connections closed at once.
	RefuseRate float64
}

// Stats counts what the proxy did.
type Stats struct {
	Connections       int64 `json:"connections"`
	Refused           int64 `json:"connections_refused"`
	Commands          int64 `json:"commands"`
	DroppedAfterSend  int64 `json:"dropped_after_send"`
	DroppedBeforeSend int64 `json:"dropped_before_send"`
	Delayed           int64 `json:"replies_delayed"`
}

// Faulted is how many commands got a fault.
func (s Stats) Faulted() int64 { return s.DroppedAfterSend + s.DroppedBeforeSend + s.Delayed }

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	cfg Config
	ln  net.Listener
	// relay carries one connection's messages in the proxy's protocol
	// until either side closes.
	relay func(p *Proxy, client, server net.Conn)

	mu  sync.Mutex // guards rng, cfg.Rate/RefuseRate and next
	rng *rand.Rand
	// next are the faults of the next commands, before the rate applies.
	next []Fault
	wg   sync.WaitGroup
	done chan struct{}

	// cut refuses every connection (an unreachable server); frozen, when
	// not nil, holds every reply until it is closed (a server that hangs).
	cut    atomic.Bool
	frozen chan struct{}

	conns                                                          sync.Map // net.Conn → struct{}
	connections, refused, commands, afterSend, beforeSend, delayed atomic.Int64
}

// Start serves the MongoDB wire protocol on ln (the caller picks the
// address, e.g. 127.0.0.1:0) until Close.
func Start(ln net.Listener, cfg Config) *Proxy { return serveProtocol(ln, cfg, relayMongo) }

func serveProtocol(ln net.Listener, cfg Config, relay func(*Proxy, net.Conn, net.Conn)) *Proxy {
	p := &Proxy{cfg: cfg, ln: ln, relay: relay, rng: newRNG(cfg.Seed), done: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p
}

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// Addr is where the proxy listens.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetRates changes the fault and refusal rates from now on (0 turns
// faults off, to read back what a load left).
func (p *Proxy) SetRates(commands, connections float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.Rate, p.cfg.RefuseRate = commands, connections
}

// FaultNext gives the next commands these faults, in order, whatever the
// rate (a DelayReply waits MinDelay): for a test that needs one chosen
// command to fail.
func (p *Proxy) FaultNext(faults ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = append(p.next, faults...)
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	return Stats{Connections: p.connections.Load(), Refused: p.refused.Load(), Commands: p.commands.Load(),
		DroppedAfterSend: p.afterSend.Load(), DroppedBeforeSend: p.beforeSend.Load(), Delayed: p.delayed.Load()}
}

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	close(p.done)
	err := p.ln.Close()
	p.conns.Range(func(c, _ any) bool { _ = c.(net.Conn).Close(); return true })
	p.wg.Wait()
	return err
}

// Cut makes the server unreachable: every open connection is closed and
// every new one refused, until Restore.
func (p *Proxy) Cut() {
	p.cut.Store(true)
	p.conns.Range(func(c, _ any) bool { _ = c.(net.Conn).Close(); return true })
}

// Restore ends a Cut.
func (p *Proxy) Restore() { p.cut.Store(false) }

// Freeze makes the server hang: commands still reach it (and take effect)
// but no reply comes back until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen == nil {
		p.frozen = make(chan struct{})
	}
}

// Thaw lets the held replies go, in order.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen != nil {
		close(p.frozen)
		p.frozen = nil
	}
}

// thawed returns when replies may flow, false when the proxy closed.
func (p *Proxy) thawed() bool {
	p.mu.Lock()
	frozen := p.frozen
	p.mu.Unlock()
	if frozen == nil {
		return true
	}
	select {
	case <-frozen:
		return true
	case <-p.done:
		return false
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.connections.Add(1)
		if p.cut.Load() || p.chance(func(c Config) float64 { return c.RefuseRate }) {
			p.refused.Add(1)
			_ = client.Close()
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(client)
		}()
	}
}

func (p *Proxy) chance(rate func(Config) float64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := rate(p.cfg)
	return r > 0 && p.rng.Float64() < r
}

// pick chooses the fault of one command, and a delay for DelayReply.
func (p *Proxy) pick() (Fault, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.next) > 0 {
		f := p.next[0]
		p.next = p.next[1:]
		return f, p.cfg.MinDelay
	}
	if p.cfg.Rate <= 0 || p.rng.Float64() >= p.cfg.Rate {
		return Pass, 0
	}
	w := p.cfg.Weights
	if w == [3]float64{} {
		w = [3]float64{1, 1, 1}
	}
	x := p.rng.Float64() * (w[0] + w[1] + w[2])
	switch {
	case x < w[0]:
		return DropAfterSend, 0
	case x < w[0]+w[1]:
		return DropBeforeSend, 0
	}
	return DelayReply, p.cfg.MinDelay + time.Duration(p.rng.Int64N(int64(max(p.cfg.MaxDelay-p.cfg.MinDelay, 0))+1))
}

func (p *Proxy) serve(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.cfg.Target, 5*time.Second)
	if err != nil {
		_ = client.Close()
		return
	}
	p.conns.Store(client, struct{}{})
	p.conns.Store(server, struct{}{})
	defer func() {
		_ = client.Close()
		_ = server.Close()
		p.conns.Delete(client)
		p.conns.Delete(server)
	}()
	p.relay(p, client, server)
}

// sleep waits d, false when the proxy closed first.
func (p *Proxy) sleep(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-p.done:
		return false
	}
}

// conn is one MongoDB client connection and its upstream twin.
type conn struct {
	p              *Proxy
	client, server net.Conn

	mu     sync.Mutex
	delays map[int32]time.Duration // by request id: replies to hold
	drops  map[int32]bool          // by request id: replies to swallow
}

func relayMongo(p *Proxy, client, server net.Conn) {
	relay(&conn{p: p, client: client, server: server, delays: map[int32]time.Duration{}, drops: map[int32]bool{}})
}

// pumps is one proxied connection in a wire protocol: its client's
// commands to the server, the server's replies back, and closing both.
type pumps interface {
	pumpCommands()
	pumpReplies()
	close()
}

// relay runs a connection until its commands end, then closes both sides
// and waits for its replies to end too.
func relay(c pumps) {
	replies := make(chan struct{})
	go func() {
		defer close(replies)
		c.pumpReplies()
	}()
	c.pumpCommands()
	c.close()
	<-replies
}

func (c *conn) close() {
	_ = c.client.Close()
	_ = c.server.Close()
}

// Message header fields (MongoDB wire protocol).
const (
	headerLen   = 16
	opMsg       = 2013
	opQuery     = 2004
	maxMsgBytes = 48 << 20
)

type header struct {
	length, requestID, responseTo, opCode int32
}

// readMessage reads one whole message.
func readMessage(r io.Reader) (header, []byte, error) {
	buf := make([]byte, headerLen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return header{}, nil, err
	}
	h := header{
		length:     int32(binary.LittleEndian.Uint32(buf[0:])),
		requestID:  int32(binary.LittleEndian.Uint32(buf[4:])),
		responseTo: int32(binary.LittleEndian.Uint32(buf[8:])),
		opCode:     int32(binary.LittleEndian.Uint32(buf[12:])),
	}
	if h.length < headerLen || h.length > maxMsgBytes {
		return h, nil, fmt.Errorf("message length %d out of range", h.length)
	}
	msg := make([]byte, h.length)
	copy(msg, buf)
	_, err := io.ReadFull(r, msg[headerLen:])
	return h, msg, err
}

// commandName is the first key of an OP_MSG's body (section kind 0), or
// "" when it cannot tell.
func commandName(h header, msg []byte) string {
	if h.opCode != opMsg || len(msg) < headerLen+4+1+4+1 {
		return ""
	}
	body := msg[headerLen+4:] // after the flag bits
	if body[0] != 0 {
		return ""
	}
	doc := body[1:]
	name := doc[5:] // after the document length and the first element's type
	for i, b := range name {
		if b == 0 {
			return string(name[:i])
		}
	}
	return ""
}

// handshakes are the commands a driver sends to open and monitor a
// connection; they pass, so faults land on what the application asked.
var handshakes = map[string]bool{"hello": true, "isMaster": true, "ismaster": true, "saslStart": true,
	"saslContinue": true, "endSessions": true, "killCursors": true}

// pumpCommands forwards client messages, deciding each command's fault.
func (c *conn) pumpCommands() {
	for {
		h, msg, err := readMessage(c.client)
		if err != nil {
			return
		}
		name := commandName(h, msg)
		fault, delay := Pass, time.Duration(0)
		if h.opCode == opMsg && !handshakes[name] {
			c.p.commands.Add(1)
			fault, delay = c.p.pick()
		}
		switch fault {
		case DropBeforeSend:
			c.p.beforeSend.Add(1)
			return
		case DropAfterSend:
			c.p.afterSend.Add(1)
			c.mu.Lock()
			c.drops[h.requestID] = true
			c.mu.Unlock()
		case DelayReply:
			c.p.delayed.Add(1)
			c.mu.Lock()
			c.delays[h.requestID] = delay
			c.mu.Unlock()
		}
		if _, err := c.server.Write(msg); err != nil {
			return
		}
	}
}

// pumpReplies forwards server messages, holding the delayed ones.
func (c *conn) pumpReplies() {
	for {
		h, msg, err := readMessage(c.server)
		if err != nil {
			_ = c.client.Close()
			return
		}
		c.mu.Lock()
		delay, held := c.delays[h.responseTo]
		drop := c.drops[h.responseTo]
		delete(c.delays, h.responseTo)
		c.mu.Unlock()
		if drop {
			c.close() // the server answered; the client never hears it
			return
		}
		if held && !c.p.sleep(delay) {
			return
		}
		if !c.p.thawed() {
			return
		}
		if _, err := c.client.Write(msg); err != nil {
			return
		}
	}
}
