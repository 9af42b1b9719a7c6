package domain

import "testing"

func TestCheckMatcherFindsCollisionsAndConfusedConditions(t *testing.T) {
	conds := shopConditions()
	const refund, shipping = 5, 6
	conds = append(conds,
		MatcherCondition{Examples: []string{"I'd like a refund for my order!", "give me my money back", "refund please"}},
		MatcherCondition{Examples: []string{"where is my package", "has my order shipped yet", "track my parcel please"}},
	)
	check, err := CheckMatcher(conds, MatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(check.Conditions) != len(conds) {
		t.Fatalf("%d condition reports for %d conditions", len(check.Conditions), len(conds))
	}
	for c, cc := range check.Conditions {
		if cc.Checked != len(conds[c].Examples) {
			t.Errorf("condition %d: %d examples checked of %d", c, cc.Checked, len(conds[c].Examples))
		}
	}
	// The refund condition repeats a returns example, punctuation aside.
	found := false
	for _, col := range check.Collisions {
		t.Logf("collision %+v", col)
		if col.A == condReturn && col.B == refund && col.Similarity == 1 &&
			conds[condReturn].Examples[col.ExampleA] == "I'd like a refund for my order" && col.ExampleB == 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("the repeated refund phrasing is not reported: %+v", check.Collisions)
	}
	// The shipping condition is the order-status condition in other words.
	sh := check.Conditions[shipping]
	t.Logf("shipping: %+v; order status: %+v", sh, check.Conditions[condOrderStatus])
	if sh.Confused == 0 || len(sh.ConfusedWith) == 0 || sh.ConfusedWith[0].Condition != condOrderStatus {
		t.Errorf("shipping's examples are not reported as taken by order status: %+v", sh)
	}
	if hours := check.Conditions[condHours]; 2*hours.Confused >= hours.Checked {
		t.Errorf("the opening-hours condition, distinct from every other, is reported mostly confused: %+v", hours)
	}
}

func TestCheckMatcherRejectsNoConditions(t *testing.T) {
	if _, err := CheckMatcher(nil, MatcherOptions{}); err == nil {
		t.Error("no conditions accepted")
	}
}
