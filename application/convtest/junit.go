package convtest

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"time"
)

// The JUnit XML shape CI systems read (GitLab, Jenkins, GitHub Actions
// reporters, Azure DevOps): one testsuite per test file, one testcase per
// conversation. Text goes through encoding/xml's escaping, chardata
// included: it writes <, &, quotes and newlines as references and
// replaces what XML 1.0 cannot hold (a \x01 in a tool's error, invalid
// UTF-8) with U+FFFD, so the file parses whatever a reply or an error
// held. A CDATA section would keep the text's lines as they are in the
// raw file, but encoding/xml writes it unchecked and a \x01 there makes
// the file unreadable.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	File     string      `xml:"file,attr,omitempty"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// MarshalXML writes the failure as its tags say, but its text as a
// CharData token: encoding/xml escapes a ",chardata" field's newlines
// (&#xA;), which puts a whole report on one line of the file, and a token
// keeps them while escaping the rest alike.
func (f junitFailure) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "message"}, Value: f.Message})
	for _, tok := range []xml.Token{start, xml.CharData(f.Text), start.End()} {
		if err := e.EncodeToken(tok); err != nil {
			return err
		}
	}
	return nil
}

// WriteJUnit writes the reports as one JUnit XML document. A failing
// conversation's failure names its first failing turn's first failure and
// holds the conversation's turns as Write prints them, so CI shows what
// happened beside each failure.
//
// Conversations a selection left out (Report.NotRun) are omitted, not
// marked <skipped/>: go test -run does not list the tests it did not
// pick either. A skipped testcase says a test could not or would not run
// on its own account, and CI systems show it as pending work; a job that
// runs one conversation on purpose would show all the others so, on every
// run and in the trends. The readable report counts them instead.
func WriteJUnit(w io.Writer, reports []Report) error {
	doc := junitSuites{Suites: make([]junitSuite, 0, len(reports))}
	var total time.Duration
	for _, r := range reports {
		suite, took := junitSuiteOf(r)
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		total += took
		doc.Suites = append(doc.Suites, suite)
	}
	doc.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitSuiteOf is one file's testsuite and the time its conversations
// took together.
func junitSuiteOf(r Report) (junitSuite, time.Duration) {
	suite := junitSuite{Name: r.Suite, File: r.File, Tests: len(r.Conversations), Cases: make([]junitCase, 0, len(r.Conversations))}
	var took time.Duration
	for _, c := range r.Conversations {
		took += c.Time
		tc := junitCase{Classname: r.Suite, Name: c.Name, Time: seconds(c.Time)}
		if msg, failed := c.firstFailure(); failed {
			suite.Failures++
			var text strings.Builder
			for _, t := range c.Turns {
				writeTurn(&text, t)
			}
			tc.Failure = &junitFailure{Message: msg, Text: text.String()}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Time = seconds(took)
	return suite, took
}

// firstFailure is the first failure of the conversation's first failing
// turn.
func (c ConversationReport) firstFailure() (string, bool) {
	for _, t := range c.Turns {
		if len(t.Failures) > 0 {
			return t.Failures[0], true
		}
	}
	return "", false
}

// seconds is a duration as JUnit's time attributes hold it.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}
