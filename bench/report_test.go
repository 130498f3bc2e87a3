package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func samples(us ...int) []Sample {
	var s []Sample
	for _, u := range us {
		s = append(s, Sample{Total: time.Duration(u) * time.Microsecond})
	}
	return s
}

func TestSummarize(t *testing.T) {
	var d []int
	for i := 1; i <= 100; i++ {
		d = append(d, i)
	}
	st := summarize(samples(d...))
	if st.N != 100 || st.P50 != 51*time.Microsecond || st.P90 != 91*time.Microsecond || st.P99 != 100*time.Microsecond || st.Max != 100*time.Microsecond {
		t.Fatalf("%+v", st)
	}
	if st.Mean != 50500*time.Nanosecond {
		t.Fatalf("mean %v", st.Mean)
	}
	if got := summarize(nil); got.N != 0 {
		t.Fatalf("empty: %+v", got)
	}
}

func TestMedianPhases(t *testing.T) {
	s := []Sample{
		{Traced: true, Phases: Phases{Execute: 30 * time.Microsecond, Load: time.Microsecond}},
		{Traced: true, Phases: Phases{Execute: 40 * time.Microsecond, Load: 3 * time.Microsecond}},
		{Traced: true, Phases: Phases{Execute: 35 * time.Microsecond, Load: 2 * time.Microsecond}},
		{Traced: false},
	}
	ph, ok := medianPhases(s)
	if !ok || ph.Execute != 35*time.Microsecond || ph.Load != 2*time.Microsecond {
		t.Fatalf("%+v %v", ph, ok)
	}
	if _, ok := medianPhases(samples(1, 2)); ok {
		t.Fatal("untraced samples gave phases")
	}
}

func testReport() *Report {
	return &Report{Host: Host{CPU: "test", Cores: 2}, N: 3, Results: []*Result{
		{Target: &Target{System: "kvm", Kind: KindBackend, Floor: "floor/kvm-run", Function: "noop"}, Samples: samples(40, 45, 50)},
		{Target: &Target{System: "floor/kvm-run", Kind: KindFloor, Function: "-"}, Samples: samples(30, 30, 30)},
		{Target: &Target{System: "floor/fresh-vm", Kind: KindFloor, Function: "noop"}, Samples: samples(2250, 2250, 2250)},
		{Target: &Target{System: "peer/bwrap", Kind: KindPeer, Function: "noop"}, Samples: samples(4500, 4500, 4500)},
		{Target: &Target{System: "wasm", Kind: KindBackend, Floor: "floor/wazero", Function: "noop"}, Errors: 3},
		{Target: &Target{System: "kvm", Kind: KindBackend, Floor: "floor/kvm-run", Function: "matmul128"}, Samples: samples(1000, 1000, 1000)},
		{Target: &Target{System: "seccomp", Kind: KindBackend, Floor: "floor/vfork-exec", Function: "matmul128"}, Samples: samples(2000, 2000, 2000)},
	}, Sweeps: []*Sweep{{System: "kvm", Function: "noop", Engines: 2, Steps: []SweepStep{{Offered: 500, Achieved: 500, P50: 40 * time.Microsecond, P99: 80 * time.Microsecond}}, Sustained: 500, Stop: "test"}}}
}

func TestRatios(t *testing.T) {
	r := testReport()
	for i, want := range []string{"1.50× floor/kvm-run", "", "50.0× slower than kvm", "100× kvm", "", "", "2.00× kvm"} {
		if got, _ := r.ratio(r.Results[i]); got != want {
			t.Errorf("%s: %q, want %q", r.Results[i].Target.System, got, want)
		}
	}
}

func TestJSONParses(t *testing.T) {
	var b bytes.Buffer
	if err := testReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var ms []Measurement
	if err := json.Unmarshal(b.Bytes(), &ms); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range ms {
		if m.Host == nil || m.Host.CPU != "test" {
			t.Fatalf("measurement without host: %+v", m)
		}
		if m.System == "kvm" && m.Function == "noop" && m.Stat == "p50" {
			found = m.Value == 45 && m.Unit == "µs"
		}
	}
	if !found {
		t.Fatal("kvm noop p50 missing or wrong")
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	testReport().WriteTable(&b)
	out := b.String()
	for _, want := range []string{"1.50× floor/kvm-run", "50.0× slower than kvm", "failed", "sustained", "host: test, 2 cores"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestPlots(t *testing.T) {
	dir := t.TempDir()
	files, err := testReport().WritePlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 { // two CDFs (noop, matmul128) and the sweep
		t.Fatalf("wrote %v", files)
	}
}
