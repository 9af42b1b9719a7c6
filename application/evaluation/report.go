package evaluation

import (
	"fmt"
	"io"
	"strings"
)

// Names of the runs `make eval` makes, which the report reads.
const (
	RunBanking77Few    = "banking77-10"
	RunBanking77Some   = "banking77-30"
	RunBanking77All    = "banking77-all"
	RunBanking77OOS    = "banking77-10-oos"
	RunDemo            = "demo"
	RunScaleSmall      = "scale-150"
	RunScaleLarge      = "scale-10000"
	RunScaleSmallLong  = "scale-150-long"
	RunScaleLargeLong  = "scale-10000-long"
	NegationKind       = "negation"
	verdictMet         = "met"
	verdictNotMet      = "not met"
	verdictNotMeasured = "not measured"
)

// Target is one figure an evaluation must reach, with what was measured
// and the verdict, computed.
type Target struct {
	What     string
	Want     string
	Measured string
	Verdict  string
}

// Targets are the figures the matcher is held to, each judged on runs.
func Targets(runs map[string]*Result) []Target {
	pct := func(x float64) string { return fmt.Sprintf("%.1f %%", 100*x) }
	var out []Target
	add := func(what, want string, measured func() (string, bool), need ...string) {
		t := Target{What: what, Want: want, Measured: "—", Verdict: verdictNotMeasured}
		for _, n := range need {
			if runs[n] == nil || runs[n].Turns == 0 && runs[n].CompileMS == 0 {
				out = append(out, t)
				return
			}
		}
		m, ok := measured()
		t.Measured, t.Verdict = m, verdictNotMet
		if ok {
			t.Verdict = verdictMet
		}
		out = append(out, t)
	}
	add("Banking77, 10 examples per rule: top-1 accuracy", "≥ 75 %", func() (string, bool) {
		a := runs[RunBanking77Few].Accuracy()
		return pct(a), a >= 0.75
	}, RunBanking77Few)
	add("Banking77, all training examples: top-1 accuracy", "≥ 91 %", func() (string, bool) {
		a := runs[RunBanking77All].Accuracy()
		return pct(a), a >= 0.91
	}, RunBanking77All)
	add("Banking77: more examples never lower accuracy (10 → 30 → all)", "monotone", func() (string, bool) {
		a, b, c := runs[RunBanking77Few].Accuracy(), runs[RunBanking77Some].Accuracy(), runs[RunBanking77All].Accuracy()
		return fmt.Sprintf("%s → %s → %s", pct(a), pct(b), pct(c)), a <= b && b <= c
	}, RunBanking77Few, RunBanking77Some, RunBanking77All)
	add("Demo paraphrases: turns with exactly the expected rules and step", "≥ 90 %", func() (string, bool) {
		r := runs[RunDemo].ExactRate()
		return fmt.Sprintf("%s (%d of %d)", pct(r), runs[RunDemo].ExactlyRight, runs[RunDemo].Turns), r >= 0.90
	}, RunDemo)
	add("Demo paraphrases: negation cases right", "all", func() (string, bool) {
		k := runs[RunDemo].Kind(NegationKind)
		return fmt.Sprintf("%d of %d", k.Right, k.Turns), k.Turns > 0 && k.Right == k.Turns
	}, RunDemo)
	add("Matching time per turn at 150 rules (median)", "≤ 100 µs", func() (string, bool) {
		m := runs[RunScaleSmall].Matching.MedianMicros
		return fmt.Sprintf("%.0f µs", m), m <= 100
	}, RunScaleSmall)
	add("Matching time per turn at 10,000 rules (median)", "≤ 1 ms", func() (string, bool) {
		m := runs[RunScaleLarge].Matching.MedianMicros
		return fmt.Sprintf("%.0f µs", m), m <= 1000
	}, RunScaleLarge)
	add("Compiling a 77-rule policy with all Banking77 training examples (fastest of 3)", "≤ 1 s", func() (string, bool) {
		c := runs[RunBanking77All].CompileMS
		return fmt.Sprintf("%.2f s", c/1000), c <= 1000
	}, RunBanking77All)
	return out
}

// WriteReport writes docs/evaluation.md from the runs: every figure and
// every verdict comes from them. about says where and how they were made.
func WriteReport(w io.Writer, runs map[string]*Result, about string) error {
	var b strings.Builder
	b.WriteString("# Evaluation\n\n")
	b.WriteString("How well agents decide which rules apply and where a scenario goes, measured by `make eval`, which\n")
	b.WriteString("sends labelled messages through the engine in process (memory store, offline model) with\n")
	b.WriteString("`focal eval` and writes this page. Every figure and verdict below comes from that run.\n\n")
	fmt.Fprintf(&b, "%s\n\n", about)
	b.WriteString("## Targets\n\n| figure | target | measured | verdict |\n|---|---|---|---|\n")
	for _, t := range Targets(runs) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.What, t.Want, t.Measured, t.Verdict)
	}
	b.WriteString("\n## Banking77\n\n")
	b.WriteString("77 intents of online-banking questions (PolyAI, CC BY 4.0, `testdata/banking77`), one rule per intent,\n")
	b.WriteString("its examples the first N training phrasings of the intent; all 3,080 test messages, each as a new user.\n")
	b.WriteString("Top-1 accuracy: the best-scored rule is the intent. Decided right: exactly that rule matched at the\n")
	b.WriteString("default threshold. The out-of-scope run leaves every fifth intent out of the bundle: its test messages\n")
	b.WriteString("should match nothing.\n\n")
	b.WriteString("| run | rules | examples | top-1 accuracy | macro-F1 (decisions) | decided right | out-of-scope recall | compile | matching median / p95 |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, name := range []string{RunBanking77Few, RunBanking77Some, RunBanking77All, RunBanking77OOS} {
		if r := runs[name]; r != nil {
			oos := "—"
			if r.OutOfScope > 0 {
				oos = fmt.Sprintf("%.1f %%", 100*r.OutOfScopeRecall())
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %.1f %% | %.1f %% | %.1f %% | %s | %.2f s | %.0f / %.0f µs |\n", name, r.Rules, r.Examples,
				100*r.Accuracy(), 100*r.MacroF1, 100*r.ExactRate(), oos, r.CompileMS/1000, r.Matching.MedianMicros, r.Matching.P95Micros)
		}
	}
	if r := runs[RunBanking77Few]; r != nil {
		writeConfusions(&b, "Most confused intents, 10 examples per rule (intent → best-scored rule, turns)", r.TopConfusions)
	}
	writeSweep(&b, runs)
	if r := runs[RunDemo]; r != nil {
		writeDemo(&b, r)
	}
	b.WriteString("\n## Matching time at scale\n\n")
	b.WriteString("Rules built from Banking77 phrasings (one real and three recombined per rule), messages from its test\n")
	b.WriteString("split; the time is the turn record's `matching` step (scoring the message against every condition).\n\n")
	b.WriteString("| run | rules | examples | compile | matching median | p95 | mean |\n|---|---|---|---|---|---|---|\n")
	for _, name := range []string{RunScaleSmall, RunScaleLarge, RunScaleSmallLong, RunScaleLargeLong} {
		if r := runs[name]; r != nil {
			fmt.Fprintf(&b, "| %s | %d | %d | %.2f s | %.0f µs | %.0f µs | %.0f µs |\n", name, r.Rules, r.Examples, r.CompileMS/1000,
				r.Matching.MedianMicros, r.Matching.P95Micros, r.Matching.MeanMicros)
		}
	}
	if r := runs[RunScaleLargeLong]; r != nil {
		fmt.Fprintf(&b, "\nThe `-long` runs send the same rules %d messages of the longest length a turn takes (10,000\n", r.Turns)
		b.WriteString("characters): test phrasings one after another from eight places in the split, one word said two thousand\n")
		b.WriteString("times, one word as long as a message, and digits; with 11 messages or fewer, p95 is the slowest.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeDemo(b *strings.Builder, r *Result) {
	b.WriteString("\n## Demo agent paraphrases\n\n")
	b.WriteString("`testdata/eval/demo-agent.yaml`: conversations with the demo agent in words its examples do not use —\n")
	b.WriteString("paraphrases, typos, negations, off-topic messages and short replies — each turn labelled with the rules\n")
	b.WriteString("that must match and the step it must end in.\n\n")
	fmt.Fprintf(b, "%d of %d turns exactly right (%.1f %%); macro-F1 %.1f %%; out-of-scope recall %.1f %% (%d turns).\n\n",
		r.ExactlyRight, r.Turns, 100*r.ExactRate(), 100*r.MacroF1, 100*r.OutOfScopeRecall(), r.OutOfScope)
	b.WriteString("| kind | turns | exactly right |\n|---|---|---|\n")
	for _, k := range r.Kinds {
		fmt.Fprintf(b, "| %s | %d | %d |\n", k.Kind, k.Turns, k.Right)
	}
	if len(r.Misses) > 0 {
		b.WriteString("\nTurns not exactly right:\n\n| message | expected | matched | step expected | step |\n|---|---|---|---|---|\n")
		for _, m := range r.Misses {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", cell(m.Message), label(m.Expected), label(m.Matched),
				cell(m.ExpectedScenario), m.Scenario)
		}
	}
}

func writeConfusions(b *strings.Builder, title string, list []Confusion) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s:\n\n", title)
	for _, c := range list {
		fmt.Fprintf(b, "- %s → %s: %d\n", c.Expected, c.Got, c.Count)
	}
}

// writeSweep shows what other match thresholds would do, for the runs with
// out-of-scope turns: the evidence the default threshold stands on.
func writeSweep(b *strings.Builder, runs map[string]*Result) {
	b.WriteString("\n### The match threshold\n\n")
	b.WriteString("Scores are calibrated probabilities; the default `match_threshold` (and entry and transition thresholds)\n")
	b.WriteString("is 0.5, where applying becomes more likely than not. What other thresholds would decide, replayed from\n")
	b.WriteString("the scores the turns recorded (in scope: the rule alone clears the threshold; out of scope: nothing does):\n\n")
	b.WriteString("| run | threshold | in scope right | out-of-scope recall |\n|---|---|---|---|\n")
	for _, name := range []string{RunBanking77OOS, RunDemo} {
		if r := runs[name]; r != nil {
			for _, pt := range r.Sweep {
				fmt.Fprintf(b, "| %s | %.1f | %.1f %% | %.1f %% |\n", name, pt.Threshold, 100*pt.InScopeRight, 100*pt.OOSRecall)
			}
		}
	}
}

// cell escapes text for a table cell.
func cell(s string) string {
	if s == "" {
		return "—"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// WriteSummary prints one run's figures, as `focal eval` does.
func WriteSummary(w io.Writer, r *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s: %d rules, %d examples, compiled in %.2f s\n", r.Dataset, r.Bundle, r.Rules, r.Examples, r.CompileMS/1000)
	fmt.Fprintf(&b, "  turns:               %d\n", r.Turns)
	fmt.Fprintf(&b, "  exactly right:       %.1f %% (%d)\n", 100*r.ExactRate(), r.ExactlyRight)
	if r.SingleLabel > 0 {
		fmt.Fprintf(&b, "  top-1 accuracy:      %.1f %% (of %d turns expecting one rule)\n", 100*r.Accuracy(), r.SingleLabel)
	}
	fmt.Fprintf(&b, "  macro-F1:            %.1f %%\n", 100*r.MacroF1)
	if r.OutOfScope > 0 {
		fmt.Fprintf(&b, "  out-of-scope recall: %.1f %% (of %d)\n", 100*r.OutOfScopeRecall(), r.OutOfScope)
	}
	for _, k := range r.Kinds {
		fmt.Fprintf(&b, "  %-20s %d of %d right\n", k.Kind+":", k.Right, k.Turns)
	}
	fmt.Fprintf(&b, "  matching per turn:   median %.0f µs, p95 %.0f µs, mean %.0f µs\n",
		r.Matching.MedianMicros, r.Matching.P95Micros, r.Matching.MeanMicros)
	for _, list := range []struct {
		title string
		pairs []Confusion
	}{{"most confused, best-scored (expected → best)", r.TopConfusions}, {"most confused, decided (expected → matched)", r.Confusions}} {
		if len(list.pairs) > 0 {
			fmt.Fprintf(&b, "  %s:\n", list.title)
			for _, c := range list.pairs {
				fmt.Fprintf(&b, "    %s → %s: %d\n", c.Expected, c.Got, c.Count)
			}
		}
	}
	if len(r.Sweep) > 0 {
		b.WriteString("  at other thresholds (in scope right / out-of-scope recall):")
		for _, pt := range r.Sweep {
			fmt.Fprintf(&b, " %.1f: %.0f/%.0f %%", pt.Threshold, 100*pt.InScopeRight, 100*pt.OOSRecall)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
