package harness

import (
	"bufio"
	"encoding/json"
	"io"
)

// ForwardLog copies the JSON log lines of a `focal serve` process from out
// to log until out ends, and sends the address of its "listening" line on
// listening (once: give the channel a buffer of one). What follows a line
// too long to scan is drained, so the process never blocks on its output.
func ForwardLog(out io.Reader, log io.Writer, listening chan<- string) {
	lines := bufio.NewScanner(out)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		_, _ = log.Write(append(lines.Bytes(), '\n'))
		var entry struct{ Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Msg == "listening" && entry.Addr != "" {
			select {
			case listening <- entry.Addr:
			default:
			}
		}
	}
	_, _ = io.Copy(io.Discard, out)
}
