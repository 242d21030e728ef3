package sqlstore

import (
	"strings"
	"testing"
	"time"
)

func testDialect(question bool) *Dialect {
	return New(Dialect{
		Name:           "test",
		QuestionParams: question,
		Time:           func(t time.Time) any { return ToNanos(t) },
		Stored:         func(t time.Time) time.Time { return t },
		TimeType:       "INTEGER",
		Key:            func(k string) any { return k },
		IndexHint:      func(string) string { return "" },
		Text:           func(p string) string { return p },
		StateIn:        func(p string, not bool) string { return p + " IS NULL" },
		StateList:      func([]string) (any, error) { return nil, nil },
		Min:            "min",
	})
}

// TestPlaceholders: a dialect with ?n placeholders gets no $n, and one with
// $n keeps the statements as written.
func TestPlaceholders(t *testing.T) {
	q := testDialect(true)
	for _, s := range q.Queries() {
		if strings.Contains(s, "$") {
			t.Errorf("statement keeps a $ placeholder: %s", s)
		}
	}
	if got := q.ListSQL(0, true); !strings.Contains(got, "seq < ?7") || !strings.Contains(got, "LIMIT ?8") {
		t.Errorf("descending list = %s", got)
	}
	d := testDialect(false)
	if got := d.ListSQL(0, false); !strings.Contains(got, "seq > $7") {
		t.Errorf("ascending list = %s", got)
	}
	if len(q.Queries()) != len(d.Queries()) {
		t.Errorf("%d statements with ?n, %d with $n", len(q.Queries()), len(d.Queries()))
	}
}

// TestTimeDest: times read back the same whichever way they are stored, in
// UTC, with NULL and 0 as the zero time.
func TestTimeDest(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 0, 0, 123456789, time.FixedZone("x", 3600))
	for _, src := range []any{at.UnixNano(), at} {
		var got time.Time
		if err := (timeDest{&got}).Scan(src); err != nil || !got.Equal(at) || got.Location() != time.UTC {
			t.Errorf("Scan(%T) = %v, %v", src, got, err)
		}
	}
	for _, src := range []any{nil, int64(0)} {
		got := time.Now()
		if err := (timeDest{&got}).Scan(src); err != nil || !got.IsZero() {
			t.Errorf("Scan(%v) = %v, %v", src, got, err)
		}
	}
	var got time.Time
	if err := (timeDest{&got}).Scan("yesterday"); err == nil {
		t.Error("Scan(string) did not fail")
	}
}
