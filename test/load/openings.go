package main

import (
	"fmt"
	"os"

	"focal/application"
	"focal/domain"
)

// openingChoice is what a returning user's first message is drawn from at
// one rule count: the Banking77 phrasings of the scenario's intent that
// start the scenario, as the engine decides it in process on the very
// bundle Focal serves.
type openingChoice struct {
	// messages are the phrasings that start the scenario; when none does,
	// the phrasings the entry condition lists, so that the seeding still
	// runs and its count shows the miss.
	messages []string
	// starting of tried phrasings started the scenario in process; best is
	// the highest entry score among those tried.
	starting, tried int
	best            float64
}

// text says in a few words how the openings were chosen.
func (o openingChoice) text() string {
	if o.starting == 0 {
		return fmt.Sprintf("none of %d %s phrasings starts it in process, best entry score %.2f", o.tried, scenarioIntent, o.best)
	}
	return fmt.Sprintf("openings: the %d of %d %s phrasings that start it in process", o.starting, o.tried, scenarioIntent)
}

// chooseOpenings compiles the bundle at path as Focal does and keeps the
// phrasings of the scenario's intent that start the scenario as a
// session's first message.
//
// The listed entry phrasings would do at 100 rules, but the entry competes
// with every rule in one matcher, and with 10,000 rules made of the same
// bank's phrasings it may lose for any of them: a returning user whose
// opening missed is a user outside the scenario, and the runs of returning
// users would not measure the workload they claim. Choosing openings
// flatters nothing: the turns measured come later, from the users' half of
// every intent, and what is chosen is only which card-arrival question the
// history starts with, among real ones. That the server agrees is checked
// through the API after seeding (seedReturningUsers), and a run where it
// does not is void (seeding.voidReason).
func chooseOpenings(path string, p *phrases) (openingChoice, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return openingChoice{}, err
	}
	pol, err := application.ParseBundle(data)
	if err != nil {
		return openingChoice{}, fmt.Errorf("bench bundle %s: %w", path, err)
	}
	cp, err := domain.CompilePolicy(pol)
	if err != nil {
		return openingChoice{}, fmt.Errorf("bench bundle %s: %w", path, err)
	}
	// The entry's own phrasings first, then the intent's other
	// phrasings, the users' half last.
	candidates := append(append([]string{}, p.forRule[scenarioIntent]...), p.forUser[scenarioIntent]...)
	var o openingChoice
	for _, text := range candidates {
		score, starts := startsScenario(cp, text)
		o.tried++
		o.best = max(o.best, score)
		if starts {
			o.messages = append(o.messages, text)
		}
	}
	o.starting = len(o.messages)
	if o.starting == 0 {
		o.messages = p.forRule[scenarioIntent][:scenarioEntries]
	}
	return o, nil
}

// startsScenario is the engine's decision for text as the first message
// of a session outside any scenario (alignment's startScenario): every
// enabled scenario's entry scored, then domain.Navigate. It answers the
// bench scenario's entry score and whether that scenario is the one
// started.
func startsScenario(cp *domain.CompiledPolicy, text string) (float64, bool) {
	s := cp.ScoreMessage(text, nil)
	defer s.Release()
	in := domain.NavigationInput{Settings: cp.Settings}
	var score float64
	for i := range cp.Policy.Scenarios {
		sc := &cp.Policy.Scenarios[i]
		if !sc.Enabled {
			continue
		}
		ev := s.Entry(sc.ID)
		if sc.ID == benchScenario {
			score = ev.Score
		}
		in.Entries = append(in.Entries, domain.ScoredScenario{ScenarioID: sc.ID, EntryStep: sc.EntryStepID, Score: ev.Score})
	}
	d := domain.Navigate(&in)
	return score, d.Action == domain.ScenarioStart && d.After.ID == benchScenario
}
