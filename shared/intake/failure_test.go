package intake

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFailure(t *testing.T) {
	// The shape Lambda documents for an on-failure destination record.
	record := `{"version":"1.0","timestamp":"2026-11-30T10:00:00.000Z",
	 "requestContext":{"requestId":"r-1","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:intake:$LATEST","condition":"RetriesExhausted","approximateInvokeCount":3},
	 "requestPayload":{"version":"0","id":"ev-1","detail-type":"Incident Confirmed","source":"acme.detection","detail":{"id":"INC-1"}},
	 "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
	 "responsePayload":{"errorMessage":"record confirmed incident INC-1: ResourceNotFoundException","errorType":"wrapError"}}`
	tests := []struct {
		name         string
		body         string
		wantErr      error
		wantEventID  string
		wantAttempts int
		wantError    string
	}{
		{"record", record, nil, "ev-1", 3, "record confirmed incident INC-1: ResourceNotFoundException"},
		{"error cut", strings.Replace(record, "ResourceNotFoundException", strings.Repeat("x", 2000), 1), nil, "ev-1", 3, ""},
		{"not JSON", "junk", ErrNotARecord, "", 0, ""},
		{"no payload", `{"requestContext":{"approximateInvokeCount":3}}`, ErrNotARecord, "", 0, ""},
		{"null payload", `{"requestPayload":null}`, ErrNotARecord, "", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFailure("h-1", []byte(tc.body))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if f.Handle != "h-1" {
				t.Errorf("handle = %q", f.Handle)
			}
			if err != nil {
				return
			}
			if f.EventID != tc.wantEventID || f.Attempts != tc.wantAttempts {
				t.Errorf("event %q attempts %d, want %q %d", f.EventID, f.Attempts, tc.wantEventID, tc.wantAttempts)
			}
			if tc.wantError != "" && f.Error != tc.wantError {
				t.Errorf("error = %q", f.Error)
			}
			if len(f.Error) > maxFailureError {
				t.Errorf("error kept %d bytes, more than %d", len(f.Error), maxFailureError)
			}
			if !strings.Contains(string(f.Event), `"id":"ev-1"`) {
				t.Errorf("event = %s", f.Event)
			}
		})
	}
}
