package faultproxy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// StartPostgres serves the PostgreSQL wire protocol on ln until Close.
//
// A command is what a client sends up to a Sync ('S') or a simple Query
// ('Q'); the server answers it up to its ReadyForQuery ('Z'), one per Sync
// or Query, in order. The start-up exchange (the StartupMessage, the
// authentication messages, up to the server's first ReadyForQuery) and a
// Terminate pass without a fault. An SSLRequest or GSSENCRequest is
// answered 'N' by the proxy itself: it does not speak TLS. The COPY
// sub-protocol is not followed (Focal does not use it).
func StartPostgres(ln net.Listener, cfg Config) *Proxy { return serveProtocol(ln, cfg, relayPostgres) }

// PostgreSQL protocol codes.
const (
	pgSSLRequest    = 80877103
	pgGSSENCRequest = 80877104
	pgSync          = 'S'
	pgQuery         = 'Q'
	pgPassword      = 'p' // every authentication message a client sends
	pgTerminate     = 'X'
	pgReady         = 'Z'
)

// pgCommand is the fault of one command, known to the reply side.
type pgCommand struct {
	fault  Fault
	delay  time.Duration
	waited bool
}

// pgConn is one PostgreSQL client connection and its upstream twin.
type pgConn struct {
	p              *Proxy
	client, server net.Conn

	mu sync.Mutex
	// pending are the commands sent and not yet answered up to their
	// ReadyForQuery, oldest first.
	pending []*pgCommand
}

func relayPostgres(p *Proxy, client, server net.Conn) {
	relay(&pgConn{p: p, client: client, server: server})
}

func (c *pgConn) close() {
	_ = c.client.Close()
	_ = c.server.Close()
}

// readStartup reads an untyped start-up message (length, then body).
func readStartup(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n < 8 || n > maxMsgBytes {
		return nil, fmt.Errorf("start-up message length %d out of range", n)
	}
	msg := make([]byte, n)
	copy(msg, head[:])
	_, err := io.ReadFull(r, msg[4:])
	return msg, err
}

// readTyped reads one message: its type byte, a length that counts itself,
// and the body.
func readTyped(r io.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n < 4 || n > maxMsgBytes {
		return 0, nil, fmt.Errorf("message %q length %d out of range", head[0], n)
	}
	msg := make([]byte, 1+n)
	copy(msg, head[:])
	_, err := io.ReadFull(r, msg[5:])
	return head[0], msg, err
}

// startup forwards the client's StartupMessage, answering an encryption
// request 'N' first.
func (c *pgConn) startup(in *bufio.Reader, out *bufio.Writer) error {
	for {
		msg, err := readStartup(in)
		if err != nil {
			return err
		}
		code := binary.BigEndian.Uint32(msg[4:])
		if len(msg) == 8 && (code == pgSSLRequest || code == pgGSSENCRequest) {
			if _, err := c.client.Write([]byte{'N'}); err != nil {
				return err
			}
			continue
		}
		if _, err := out.Write(msg); err != nil {
			return err
		}
		return out.Flush()
	}
}

// pumpCommands forwards client messages, deciding each command's fault at
// its first message, so a command dropped before it was sent sends none.
func (c *pgConn) pumpCommands() {
	in := bufio.NewReader(c.client)
	out := bufio.NewWriter(c.server)
	if c.startup(in, out) != nil {
		return
	}
	open := false
	for {
		typ, msg, err := readTyped(in)
		if err != nil {
			return
		}
		if !open && typ != pgPassword && typ != pgTerminate {
			open = true
			if !c.begin() {
				return
			}
		}
		if typ == pgSync || typ == pgQuery {
			open = false
		}
		if _, err := out.Write(msg); err != nil {
			return
		}
		// Send what the client sent together at once.
		if in.Buffered() == 0 && out.Flush() != nil {
			return
		}
	}
}

// begin chooses the fault of a command, queues it for the reply side and
// says whether to send it.
func (c *pgConn) begin() bool {
	c.p.commands.Add(1)
	fault, delay := c.p.pick()
	switch fault {
	case DropBeforeSend:
		c.p.beforeSend.Add(1)
		return false
	case DropAfterSend:
		c.p.afterSend.Add(1)
	case DelayReply:
		c.p.delayed.Add(1)
	}
	c.mu.Lock()
	c.pending = append(c.pending, &pgCommand{fault: fault, delay: delay})
	c.mu.Unlock()
	return true
}

// answering is the command whose reply the server is sending, nil before
// the first one (the start-up exchange).
func (c *pgConn) answering() *pgCommand {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return nil
	}
	return c.pending[0]
}

func (c *pgConn) answered() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 {
		c.pending = c.pending[1:]
	}
}

// pumpReplies forwards server messages, holding a delayed command's reply
// and swallowing a dropped one's up to its ReadyForQuery.
func (c *pgConn) pumpReplies() {
	in := bufio.NewReader(c.server)
	out := bufio.NewWriter(c.client)
	for {
		typ, msg, err := readTyped(in)
		if err != nil {
			_ = c.client.Close()
			return
		}
		cmd := c.answering()
		if cmd != nil && cmd.fault == DropAfterSend {
			if typ == pgReady {
				c.close() // the server answered; the client never hears it
				return
			}
			continue
		}
		if cmd != nil && cmd.fault == DelayReply && !cmd.waited {
			cmd.waited = true
			if out.Flush() != nil || !c.p.sleep(cmd.delay) {
				return
			}
		}
		if !c.p.thawed() {
			return
		}
		if typ == pgReady {
			c.answered()
		}
		if _, err := out.Write(msg); err != nil {
			return
		}
		if in.Buffered() == 0 && out.Flush() != nil {
			return
		}
	}
}
