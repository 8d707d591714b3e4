package deploy

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The tree tells which code touches AWS (shared/ARCHITECTURE): the domain
// packages under shared/ import no AWS SDK, each AWS service's adapter sits
// under shared/aws/ and imports no other adapter, no function imports
// another, and product code never imports infra/. The in-memory fakes
// (shared/fake) are for tests alone: no program, product or tool, is built
// with them.
func TestLayout(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", "./functions/...", "./shared/...", "./infra/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// Domain packages allowed aws-lambda-go's plain event types, and why.
	// (A test may decode a sample event with them.)
	lambdaEvents := map[string]string{
		module + "/shared/admin": "the Function URL request and response it serves",
		// Intake takes the raw payload and decodes the envelope itself: the
		// typed entry point would read only the first JSON value and let
		// trailing data pass, and a broken envelope must still get a receipt.
		module + "/shared/intake":   "the EventBridge envelope (events.EventBridgeEvent) it decodes",
		module + "/shared/feedback": "the EventBridge and SNS events that carry SES's and SNS's delivery reports",
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		checked++
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		adapter := strings.HasPrefix(rel, "shared/aws/")
		function := strings.HasPrefix(rel, "functions/")
		if slices.Contains(p.Imports, module+"/shared/fake") {
			t.Errorf("%s imports shared/fake outside its tests: the fakes are for tests alone", rel)
		}
		if strings.HasPrefix(rel, "infra/") {
			continue // the tools may use the SDK and one another
		}
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			switch {
			case strings.HasPrefix(imp, module+"/infra/"):
				t.Errorf("%s imports %s: product code never imports infra/", rel, imp)
			case !adapter && !function && strings.HasPrefix(imp, "github.com/aws/aws-sdk-go-v2"):
				t.Errorf("%s imports %s: only shared/aws/ and functions/ may use the AWS SDK", rel, imp)
			case !adapter && !function && slices.Contains(p.Imports, imp) && strings.HasPrefix(imp, "github.com/aws/aws-lambda-go") &&
				(lambdaEvents[p.ImportPath] == "" || imp != "github.com/aws/aws-lambda-go/events"):
				t.Errorf("%s imports %s: a domain package uses no Lambda runtime", rel, imp)
			case adapter && strings.HasPrefix(imp, module+"/shared/aws/") && imp != p.ImportPath:
				t.Errorf("%s imports %s: one adapter never imports another", rel, imp)
			case function && strings.HasPrefix(imp, module+"/functions/") && !strings.HasPrefix(imp, module+"/functions/internal/"):
				t.Errorf("%s imports %s: one function never imports another", rel, imp)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d packages listed", checked)
	}
}
