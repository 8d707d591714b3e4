package deploy

// Each function's IAM actions equal the AWS API calls its code can make.
//
// The design, and why:
//   - What an adapter calls is read from the code: every composite literal
//     of an SDK operation input (dynamodb.QueryInput, sqs.SendMessageBatchInput,
//     ...) in an adapter method is one IAM action (see action). New SDK
//     calls cannot slip past, since there is no other way to call the SDK.
//   - Each adapter package keeps beside its code an iam.txt that declares,
//     per adapter type (or exported function), the IAM actions its methods
//     call. The test checks it against the code both ways, so a new SDK
//     call shows up in review as a line in iam.txt, next to the code.
//   - What a function can call is what its main reaches: a call graph over
//     the type-checked sources of functions/ and shared/, in the manner of
//     rapid type analysis. A static call or function value is an edge; a
//     call through an interface reaches the methods, of the same name and
//     signature, of the module's types the reachable code instantiates
//     (composite literals). A concrete method, too, runs only once its
//     type is built: the planner's queue.Handler has a nil *Backoff, so
//     the planner is not charged with sqs:ChangeMessageVisibility. A
//     function that builds dynamo.Incidents but never lists incidents is
//     not charged with dynamodb:Scan, which a per-type rule would do; and
//     no hand list of "which function uses what" exists to go stale.
//   - The function's role (as SAM generates it) must grant exactly those
//     actions, plus the ones Lambda itself uses on the function's behalf,
//     which are derived from the template (event source polling, the
//     OnFailure destination, log writes, the ops topic's key) — never
//     listed by hand.
//
// Limits: actions, not resources, are compared (resources are asserted in
// contract_test.go where it matters); package-level variable initializers
// are not walked (none calls AWS); reflection is not followed (none is
// used); a type never built by a composite literal (a zero value used as
// is) has its methods unreached, which cannot happen to an adapter, since
// it needs its client. Code outside the module calling back into it is
// covered: taking a function value counts as calling it
// (lambda.StartHandlerFunc(h.Handle)), and a value passed to an outside
// function's interface parameter has that interface's methods called
// (lambda.StartHandler(h)); an empty interface parameter (lambda.Start)
// says nothing, so the mains do not use one.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "breachnotify"

// sdkPrefix maps an aws-sdk-go-v2 service package to its IAM prefix.
var sdkPrefix = map[string]string{
	"dynamodb": "dynamodb", "sesv2": "ses", "sns": "sns", "sqs": "sqs", "s3": "s3", "eventbridge": "events",
}

// inputAction is the IAM action of an operation where it is not the
// operation's own name.
var inputAction = map[string][]string{
	"sqs.SendMessageBatch":             {"sqs:SendMessage"},
	"sqs.DeleteMessageBatch":           {"sqs:DeleteMessage"},
	"sqs.ChangeMessageVisibilityBatch": {"sqs:ChangeMessageVisibility"},
	"s3.HeadObject":                    {"s3:GetObject"},
	// A multipart upload's calls are authorized as PutObject; only its
	// abort has an action of its own (s3:AbortMultipartUpload).
	"s3.CreateMultipartUpload":   {"s3:PutObject"},
	"s3.UploadPart":              {"s3:PutObject"},
	"s3.CompleteMultipartUpload": {"s3:PutObject"},
	"dynamodb.TransactGetItems":  {"dynamodb:GetItem"},
	// TransactWriteItems is authorized per item; see transactItem.
	"dynamodb.TransactWriteItems": {},
}

// transactItem maps a TransactWriteItems element to its IAM action.
var transactItem = map[string]string{
	"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem", "ConditionCheck": "dynamodb:ConditionCheckItem",
}

// action is the IAM action a composite literal of type t stands for, if any.
func action(t types.Type) []string {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	named, ok := t.(*types.Named)
	if !ok || named.Obj().Pkg() == nil {
		return nil
	}
	path, name := named.Obj().Pkg().Path(), named.Obj().Name()
	svc, ok := strings.CutPrefix(path, "github.com/aws/aws-sdk-go-v2/service/")
	if !ok {
		return nil
	}
	if svc == "dynamodb/types" {
		if a, ok := transactItem[name]; ok {
			return []string{a}
		}
		return nil
	}
	prefix, ok := sdkPrefix[svc]
	op, isInput := strings.CutSuffix(name, "Input")
	if !ok || !isInput {
		return nil
	}
	if a, ok := inputAction[svc+"."+op]; ok {
		return a
	}
	return []string{prefix + ":" + op}
}

// node is one function or method of the module.
type node struct {
	pkg    string
	unit   string            // the adapter unit: receiver type name, or the function's name
	ops    map[string]bool   // IAM actions of the SDK inputs it builds
	calls  map[string]bool   // functions it calls or takes as values
	mcalls map[string]string // concrete methods it calls or takes as values -> their receiver type
	dyn    map[string]bool   // interface methods it calls, as name+signature
	builds map[string]bool   // module types it instantiates
}

// program is the module's call graph.
type program struct {
	nodes map[string]*node
	// methods maps a module type to its method set: name+signature -> node key.
	methods map[string]map[string]string
}

var loadProgram = sync.OnceValues(func() (*program, error) { return load() })

func load() (*program, error) {
	cmd := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Export,Dir,GoFiles,Module", "./functions/...", "./shared/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	exports := map[string]string{}
	type listed struct {
		ImportPath, Export, Dir string
		GoFiles                 []string
		Module                  *struct{ Path string }
	}
	var mine []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			return nil, err
		}
		exports[p.ImportPath] = p.Export
		if p.Module != nil && p.Module.Path == module {
			mine = append(mine, p)
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) { return os.Open(exports[path]) })
	prog := &program{nodes: map[string]*node{}, methods: map[string]map[string]string{}}
	for _, p := range mine {
		var files []*ast.File
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, 0)
			if err != nil {
				return nil, err
			}
			files = append(files, file)
		}
		info := &types.Info{Uses: map[*ast.Ident]types.Object{}, Defs: map[*ast.Ident]types.Object{}, Types: map[ast.Expr]types.TypeAndValue{}}
		pkg, err := (&types.Config{Importer: imp}).Check(p.ImportPath, fset, files, info)
		if err != nil {
			return nil, fmt.Errorf("type-check %s: %w", p.ImportPath, err)
		}
		prog.addPackage(pkg, files, info)
	}
	return prog, nil
}

// key names a function or method the same way whether it was type-checked
// from source or read from export data.
func key(fn *types.Func) string {
	return strings.ReplaceAll(fn.Origin().FullName(), "*", "")
}

func typeKey(t types.Type) string {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	if n, ok := t.(*types.Named); ok && n.Obj().Pkg() != nil {
		return n.Obj().Pkg().Path() + "." + n.Obj().Name()
	}
	return ""
}

// signature prints a signature without parameter names or receiver, so
// that an interface method and its implementation print the same.
func signature(name string, sig *types.Signature) string {
	q := func(p *types.Package) string { return p.Path() }
	var b strings.Builder
	b.WriteString(name + "(")
	for i := range sig.Params().Len() {
		b.WriteString(types.TypeString(sig.Params().At(i).Type(), q) + ",")
	}
	b.WriteString(fmt.Sprintf("%v)(", sig.Variadic()))
	for i := range sig.Results().Len() {
		b.WriteString(types.TypeString(sig.Results().At(i).Type(), q) + ",")
	}
	return b.String() + ")"
}

func (prog *program) addPackage(pkg *types.Package, files []*ast.File, info *types.Info) {
	for _, name := range pkg.Scope().Names() {
		tn, ok := pkg.Scope().Lookup(name).(*types.TypeName)
		if !ok || types.IsInterface(tn.Type()) {
			continue
		}
		ms := types.NewMethodSet(types.NewPointer(tn.Type()))
		set := map[string]string{}
		for i := range ms.Len() {
			fn := ms.At(i).Obj().(*types.Func)
			set[signature(fn.Name(), fn.Type().(*types.Signature))] = key(fn)
		}
		prog.methods[typeKey(tn.Type())] = set
	}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			fn := info.Defs[fd.Name].(*types.Func)
			n := &node{pkg: pkg.Path(), unit: fd.Name.Name, ops: map[string]bool{}, calls: map[string]bool{}, mcalls: map[string]string{}, dyn: map[string]bool{}, builds: map[string]bool{}}
			if recv := fn.Type().(*types.Signature).Recv(); recv != nil {
				n.unit = strings.TrimPrefix(typeKey(recv.Type()), pkg.Path()+".")
			}
			ast.Inspect(fd.Body, func(x ast.Node) bool {
				switch x := x.(type) {
				case *ast.Ident:
					callee, ok := info.Uses[x].(*types.Func)
					if !ok || callee.Pkg() == nil || !strings.HasPrefix(callee.Pkg().Path(), module+"/") && callee.Pkg().Path() != module {
						return true
					}
					sig := callee.Type().(*types.Signature)
					switch {
					case sig.Recv() == nil:
						n.calls[key(callee)] = true
					case types.IsInterface(sig.Recv().Type()):
						n.dyn[signature(callee.Name(), sig)] = true
					default:
						n.mcalls[key(callee)] = typeKey(sig.Recv().Type())
					}
				case *ast.CallExpr:
					// A value handed to code outside the module through
					// an interface (lambda.StartHandler(h)) has that
					// interface's methods called there.
					for _, m := range externalInterfaceMethods(info, x) {
						n.dyn[m] = true
					}
				case *ast.CompositeLit:
					t := info.Types[x].Type
					for _, a := range action(t) {
						n.ops[a] = true
					}
					if k := typeKey(t); strings.HasPrefix(k, module+"/") {
						n.builds[k] = true
					}
				}
				return true
			})
			prog.nodes[key(fn)] = n
		}
	}
}

// externalInterfaceMethods are the methods, as name+signature, of the
// non-empty interface parameters of a call to a function outside the
// module.
func externalInterfaceMethods(info *types.Info, call *ast.CallExpr) []string {
	var id *ast.Ident
	switch f := call.Fun.(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	}
	callee, ok := info.Uses[id].(*types.Func)
	if id == nil || !ok || callee.Pkg() == nil || callee.Pkg().Path() == module || strings.HasPrefix(callee.Pkg().Path(), module+"/") {
		return nil
	}
	var out []string
	params := callee.Type().(*types.Signature).Params()
	for i := range params.Len() {
		iface, ok := params.At(i).Type().Underlying().(*types.Interface)
		if !ok {
			continue
		}
		for j := range iface.NumMethods() {
			m := iface.Method(j)
			out = append(out, signature(m.Name(), m.Type().(*types.Signature)))
		}
	}
	return out
}

// reach is what can run from root (a function's main): the nodes reached
// and the IAM actions they call.
//
// within, when set, keeps the walk inside one package; given are types
// taken as built from the start.
func (prog *program) reach(root, within string, given ...string) (nodes map[string]bool, ops map[string]bool) {
	nodes, ops = map[string]bool{}, map[string]bool{}
	built, dyn := map[string]bool{}, map[string]bool{}
	for _, t := range given {
		built[t] = true
	}
	waiting := map[string][]string{} // type -> methods called on it before it was built
	work := []string{root}
	visit := func(k string) {
		if n := prog.nodes[k]; !nodes[k] && n != nil && (within == "" || n.pkg == within) {
			nodes[k] = true
			work = append(work, k)
		}
	}
	nodes[root] = true
	for len(work) > 0 {
		k := work[len(work)-1]
		work = work[:len(work)-1]
		n := prog.nodes[k]
		maps.Copy(ops, n.ops)
		for c := range n.calls {
			visit(c)
		}
		for m, t := range n.mcalls {
			if built[t] {
				visit(m)
			} else {
				waiting[t] = append(waiting[t], m)
			}
		}
		for d := range n.dyn {
			if !dyn[d] {
				dyn[d] = true
				for t := range built {
					visit(prog.methods[t][d])
				}
			}
		}
		for t := range n.builds {
			if !built[t] {
				built[t] = true
				for _, m := range waiting[t] {
					visit(m)
				}
				for d := range dyn {
					visit(prog.methods[t][d])
				}
			}
		}
	}
	return nodes, ops
}

// units are an adapter package's types and exported functions with the IAM
// actions their code calls: what each of its methods (or the function)
// reaches within the package, its own type taken as built.
func (prog *program) units(pkg string) map[string][]string {
	out := map[string]map[string]bool{}
	for k, n := range prog.nodes {
		if n.pkg != pkg || !ast.IsExported(n.unit) {
			continue
		}
		if out[n.unit] == nil {
			out[n.unit] = map[string]bool{}
		}
		_, ops := prog.reach(k, pkg, pkg+"."+n.unit)
		maps.Copy(out[n.unit], ops)
	}
	res := map[string][]string{}
	for u, ops := range out {
		if len(ops) > 0 {
			res[u] = slices.Sorted(maps.Keys(ops))
		}
	}
	return res
}

// readIAMList reads an adapter package's iam.txt: "Unit action action ..."
// per line, # comments.
func readIAMList(path string) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s: %q lists no action", path, line)
		}
		out[fields[0]] = slices.Sorted(slices.Values(fields[1:]))
	}
	return out, sc.Err()
}

// adapterPackages are the module packages whose code builds SDK inputs.
func (prog *program) adapterPackages() []string {
	var out []string
	for _, n := range prog.nodes {
		if len(n.ops) > 0 && !slices.Contains(out, n.pkg) {
			out = append(out, n.pkg)
		}
	}
	slices.Sort(out)
	return out
}

func TestAdapterIAMListsMatchTheirCode(t *testing.T) {
	prog, err := loadProgram()
	if err != nil {
		t.Fatal(err)
	}
	pkgs := prog.adapterPackages()
	if len(pkgs) == 0 {
		t.Fatal("no adapter package builds an SDK input: the scan is broken")
	}
	for _, pkg := range pkgs {
		path := filepath.Join(root, strings.TrimPrefix(pkg, module+"/"), "iam.txt")
		listed, err := readIAMList(path)
		if err != nil {
			t.Errorf("%s calls AWS, so it needs an iam.txt: %v", pkg, err)
			continue
		}
		code := prog.units(pkg)
		for _, u := range slices.Sorted(maps.Keys(code)) {
			if !slices.Equal(listed[u], code[u]) {
				t.Errorf("%s: %s calls %v, iam.txt lists %v", pkg, u, code[u], listed[u])
			}
		}
		for u := range listed {
			if _, ok := code[u]; !ok {
				t.Errorf("%s: iam.txt lists %s, which calls no AWS API", pkg, u)
			}
		}
	}
}

func TestFunctionRolesGrantWhatTheirCodeCalls(t *testing.T) {
	tpl := template(t)
	prog, err := loadProgram()
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range tpl.ofType("AWS::Lambda::Function") {
		t.Run(fn, func(t *testing.T) {
			dir := strings.ToLower(strings.TrimSuffix(fn, "Function"))
			main := module + "/functions/" + dir + ".main"
			if prog.nodes[main] == nil {
				t.Fatalf("no %s", main)
			}
			_, calls := prog.reach(main, "")
			granted := map[string]bool{}
			for _, s := range tpl.grants(tpl.roleOf(fn)) {
				for _, a := range s.Action {
					granted[a] = true
				}
			}
			lambda := tpl.lambdaActions(fn)
			for _, a := range slices.Sorted(maps.Keys(calls)) {
				if !granted[a] {
					t.Errorf("the code calls %s; the role does not grant it", a)
				}
			}
			for _, a := range slices.Sorted(maps.Keys(granted)) {
				if !calls[a] && !lambda[a] {
					t.Errorf("the role grants %s; neither the code nor Lambda on its behalf calls it", a)
				}
			}
		})
	}
}

// lambdaActions are what Lambda does with the function's role, derived
// from the generated template: poll its event source queues, send to its
// OnFailure destination, write its logs (when the role is the template's
// own, without the basic execution policy), and use the key of the
// encrypted topic it publishes to.
func (tpl *Template) lambdaActions(fn string) map[string]bool {
	out := map[string]bool{}
	for _, id := range tpl.ofType("AWS::Lambda::EventSourceMapping") {
		if refTarget(tpl.Resources[id].Properties["FunctionName"]) == fn {
			out["sqs:ReceiveMessage"], out["sqs:DeleteMessage"], out["sqs:GetQueueAttributes"] = true, true, true
		}
	}
	for _, id := range tpl.ofType("AWS::Lambda::EventInvokeConfig") {
		p := tpl.Resources[id].Properties
		if refTarget(p["FunctionName"]) == fn && get(get(p["DestinationConfig"], "OnFailure"), "Destination") != nil {
			out["sqs:SendMessage"] = true
		}
	}
	if len(list(tpl.Resources[tpl.roleOf(fn)].Properties["ManagedPolicyArns"])) == 0 {
		out["logs:CreateLogStream"], out["logs:PutLogEvents"] = true, true
	}
	for _, topic := range tpl.ofType("AWS::SNS::Topic") {
		if key := refTarget(tpl.Resources[topic].Properties["KmsMasterKeyId"]); key != "" && tpl.allows(fn, "sns:Publish", topic) {
			out["kms:Decrypt"], out["kms:GenerateDataKey"] = true, true
		}
	}
	return out
}
