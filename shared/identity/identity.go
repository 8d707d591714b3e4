// Package identity turns an authenticated IAM principal into a person of
// the admin directory. Rules that compare admins (the two-person rule:
// whoever confirmed an incident may not approve it) compare people, not
// ARNs: an assumed role's session name is chosen by whoever assumes the
// role, so `…/BreachAdmin/alice` and `…/BreachAdmin/alice-2` are one
// person, and only the directory says who.
package identity

import (
	"breachnotify/shared/errs"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Principal is the IAM caller as a Function URL with AuthType AWS_IAM
// reports it (requestContext.authorizer.iam).
type Principal struct {
	// ARN is userArn: arn:aws:iam::ACCT:user/NAME for an IAM user,
	// arn:aws:sts::ACCT:assumed-role/ROLE/SESSION for an assumed role.
	ARN string
	// UserID is userId: the user's unique id (AIDA…), or the role's unique
	// id and the session name (AROA…:SESSION).
	UserID string
}

// Session is the person written in the directory for a role whose session
// name IAM Identity Center sets to the signed-in user's name: for such a
// role, the session name is the person.
const Session = "{session}"

// ssoRolePrefix starts the name of every role IAM Identity Center creates
// for a permission set; only those roles have a session name the caller
// does not choose.
const ssoRolePrefix = "awsreservedsso_"

// ErrUnknown: the principal is not in the directory.
var ErrUnknown = errs.New(errs.Forbidden, "principal is not in the admin directory")

// ErrMalformed: the principal's ARN and user id do not describe one IAM
// user or assumed role, as AWS would report them.
var ErrMalformed = errs.New(errs.Forbidden, "malformed IAM principal")

// Directory maps IAM principals to people.
type Directory struct {
	// entries are keyed by "user:PARTITION:ACCOUNT:name",
	// "role:PARTITION:ACCOUNT:name" (names lower-cased: IAM names are
	// unique without regard to case) or "id:UNIQUEID".
	entries map[string]string
}

var (
	uniqueID = regexp.MustCompile(`^(AIDA|AROA)[A-Z0-9]{8,}$`)
	// person is a name the audit trail records; it may be an email.
	person = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$`)
)

// Parse reads a directory written as comma-separated principal=person
// entries. A principal is an IAM user ARN, a role ARN (any session of the
// role is the person), or a user's or role's unique id (AIDA…, AROA…).
// An IAM Identity Center role (AWSReservedSSO_…) may map to Session. An
// empty string is an empty directory, which knows no one.
func Parse(s string) (*Directory, error) {
	d := &Directory{entries: map[string]string{}}
	for raw := range strings.SplitSeq(s, ",") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		// The person is after the last '=': an IAM name may hold one, a
		// person may not.
		i := strings.LastIndex(entry, "=")
		principal, who := strings.TrimSpace(entry[:max(i, 0)]), strings.TrimSpace(entry[i+1:])
		if i < 0 || principal == "" || who == "" {
			return nil, fmt.Errorf("admin directory entry %q: want principal=person", entry)
		}
		key, sso, err := directoryKey(principal)
		if err != nil {
			return nil, fmt.Errorf("admin directory entry %q: %w", entry, err)
		}
		switch {
		case who == Session && !sso:
			return nil, fmt.Errorf("admin directory entry %q: %s is only for IAM Identity Center roles (AWSReservedSSO_…), whose session name the caller does not choose", entry, Session)
		case who != Session && !person.MatchString(who):
			return nil, fmt.Errorf("admin directory entry %q: person %q must be 1-128 letters, digits or ._@+-", entry, who)
		}
		if _, dup := d.entries[key]; dup {
			return nil, fmt.Errorf("admin directory entry %q: principal listed twice", entry)
		}
		d.entries[key] = who
	}
	return d, nil
}

// Len is how many principals the directory knows.
func (d *Directory) Len() int { return len(d.entries) }

// directoryKey is the key of a directory principal, and whether it is an
// IAM Identity Center role.
func directoryKey(principal string) (key string, sso bool, err error) {
	if uniqueID.MatchString(principal) {
		return "id:" + principal, false, nil
	}
	part, acct, resource, err := splitARN(principal, "iam")
	if err != nil {
		return "", false, err
	}
	kind, path, _ := strings.Cut(resource, "/")
	// A path (/division/ or /aws-reserved/sso.amazonaws.com/) is not in an
	// assumed role's ARN, and names are unique without it.
	name := strings.ToLower(path[strings.LastIndex(path, "/")+1:])
	if name == "" || (kind != "user" && kind != "role") {
		return "", false, fmt.Errorf("%q is not an IAM user or role ARN, nor a unique id (AIDA…, AROA…)", principal)
	}
	return kind + ":" + part + ":" + acct + ":" + name, kind == "role" && strings.HasPrefix(name, ssoRolePrefix), nil
}

// splitARN reads arn:PARTITION:SERVICE::ACCOUNT:RESOURCE.
func splitARN(arn, service string) (partition, account, resource string, err error) {
	f := strings.SplitN(arn, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[1] == "" || f[2] != service || f[3] != "" || len(f[4]) != 12 || f[5] == "" {
		return "", "", "", fmt.Errorf("%q is not an %s ARN", arn, service)
	}
	return f[1], f[4], f[5], nil
}

// Person is who p is. It fails with ErrMalformed when p's ARN and user id
// disagree, and ErrUnknown when the directory does not know p.
func (d *Directory) Person(p Principal) (string, error) {
	keys, session, err := principalKeys(p)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	found := ""
	for _, k := range keys {
		who, ok := d.entries[k]
		if !ok {
			continue
		}
		if who == Session {
			who = session
		}
		// The same principal listed by ARN and by unique id must be one
		// person; else the directory cannot say who acted.
		if found != "" && !strings.EqualFold(found, who) {
			return "", fmt.Errorf("%w: it is listed as two people", ErrUnknown)
		}
		found = who
	}
	if found == "" {
		return "", ErrUnknown
	}
	return found, nil
}

// principalKeys are the directory keys p may be listed under, and its
// session name when it is an assumed role.
func principalKeys(p Principal) (keys []string, session string, err error) {
	if p.ARN == "" || p.UserID == "" {
		return nil, "", errors.New("the ARN and user id are both required")
	}
	if part, acct, resource, err := splitARN(p.ARN, "iam"); err == nil {
		name, ok := strings.CutPrefix(resource, "user/")
		name = name[strings.LastIndex(name, "/")+1:]
		if !ok || name == "" || !strings.HasPrefix(p.UserID, "AIDA") || !uniqueID.MatchString(p.UserID) {
			return nil, "", fmt.Errorf("%q with user id %q is not an IAM user", p.ARN, p.UserID)
		}
		return []string{"id:" + p.UserID, "user:" + part + ":" + acct + ":" + strings.ToLower(name)}, "", nil
	}
	part, acct, resource, err := splitARN(p.ARN, "sts")
	if err != nil {
		return nil, "", fmt.Errorf("%q is neither an IAM user nor an assumed role", p.ARN)
	}
	rest, ok := strings.CutPrefix(resource, "assumed-role/")
	role, session, _ := strings.Cut(rest, "/")
	roleID, idSession, _ := strings.Cut(p.UserID, ":")
	if !ok || role == "" || session == "" || !strings.HasPrefix(roleID, "AROA") || !uniqueID.MatchString(roleID) || idSession != session {
		return nil, "", fmt.Errorf("%q with user id %q is not an assumed role session", p.ARN, p.UserID)
	}
	return []string{"id:" + roleID, "role:" + part + ":" + acct + ":" + strings.ToLower(role)}, session, nil
}
