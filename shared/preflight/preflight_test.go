package preflight

import "testing"

func TestJudge(t *testing.T) {
	tests := []struct {
		name   string
		checks []Check
		want   Status
	}{
		{"all ok", []Check{{Status: OK}, {Status: OK}}, OK},
		{"a warning", []Check{{Status: OK}, {Status: Warn}, {Status: OK}}, Warn},
		{"a failure outweighs warnings", []Check{{Status: Warn}, {Status: Fail}, {Status: Warn}}, Fail},
		{"nothing checked", nil, Fail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Judge(tc.checks)
			if v.Status != tc.want || len(v.Checks) != len(tc.checks) {
				t.Errorf("Judge = %+v, want status %s", v, tc.want)
			}
		})
	}
}
