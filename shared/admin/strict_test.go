package admin

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/shared/strictjson"
)

// Admin requests are read as every reader would read them: one object,
// each key once and spelt as declared, no unknown field, nothing after it.
func TestRequestsAreDecodedStrictly(t *testing.T) {
	omar := &events.LambdaFunctionURLRequestContextAuthorizerIAMDescription{
		UserARN: "arn:aws:iam::123456789012:user/omar", UserID: "AIDAOMARUSER0000001"}
	tests := []struct {
		name    string
		payload string
	}{
		{"trailing data", `{"operation":"verify","incidentId":"INC-1","actor":"a"} junk`},
		{"a second value", `{"operation":"verify","incidentId":"INC-1","actor":"a"}{"operation":"verify"}`},
		{"duplicate key", `{"operation":"verify","incidentId":"INC-1","actor":"a","actor":"b"}`},
		{"case variant", `{"Operation":"verify","incidentId":"INC-1","actor":"a"}`},
		{"long s variant", `{"operation":"verify","incidentId":"INC-1","actor":"a","reaſon":"x"}`},
		{"unknown field", `{"operation":"verify","incidentId":"INC-1","actor":"a","approver":"b"}`},
	}
	for _, tc := range tests {
		t.Run("direct/"+tc.name, func(t *testing.T) {
			_, err := Runtime{Handler: newHandler()}.Invoke(context.Background(), []byte(tc.payload))
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("err = %v, want a bad request", err)
			}
		})
		if tc.name == "trailing data" || tc.name == "a second value" {
			continue // a URL body is one string in the event
		}
		t.Run("url/"+tc.name, func(t *testing.T) {
			out, err := newHandler().Invoke(context.Background(), urlEvent(omar, "POST", tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if code := out.(events.LambdaFunctionURLResponse).StatusCode; code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", code)
			}
		})
	}
	// The same request, written plainly, is served.
	if _, err := (Runtime{Handler: newHandler()}).Invoke(context.Background(), []byte(`{"operation":"verify","incidentId":"INC-1","actor":"a"}`)); err != nil {
		t.Fatalf("a plain request: %v", err)
	}
	if !errors.Is(strictjson.Decode([]byte(`{"operation":"x"} y`), &Request{}), strictjson.ErrStrict) {
		t.Fatal("strictjson no longer reports trailing data as a strict rule")
	}
}
