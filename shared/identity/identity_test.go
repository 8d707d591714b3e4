package identity

import (
	"errors"
	"strings"
	"testing"
)

const directory = `arn:aws:iam::111122223333:user/ops/omar=omar,
	arn:aws:iam::111122223333:role/BreachAdmin=alice,
	AROAJANEROLE0000001=jane,
	AIDAPATUSER00000001=pat,
	arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_BreachAdmin_0a1b2c=` + Session

func TestPerson(t *testing.T) {
	d, err := Parse(directory)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		p       Principal
		want    string
		wantErr error
	}{
		{"an IAM user, by ARN (path and case do not matter)",
			Principal{"arn:aws:iam::111122223333:user/Omar", "AIDAOMARUSER0000001"}, "omar", nil},
		{"an IAM user, by unique id",
			Principal{"arn:aws:iam::111122223333:user/pat", "AIDAPATUSER00000001"}, "pat", nil},
		{"a role session is the role's person",
			Principal{"arn:aws:sts::111122223333:assumed-role/BreachAdmin/alice", "AROAALICEROLE000001:alice"}, "alice", nil},
		{"whatever the session name",
			Principal{"arn:aws:sts::111122223333:assumed-role/BreachAdmin/bob", "AROAALICEROLE000001:bob"}, "alice", nil},
		{"a role by unique id",
			Principal{"arn:aws:sts::111122223333:assumed-role/Renamed/x", "AROAJANEROLE0000001:x"}, "jane", nil},
		{"an Identity Center role: the session name is the person",
			Principal{"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_BreachAdmin_0a1b2c/carol@example.com",
				"AROASSOROLE00000001:carol@example.com"}, "carol@example.com", nil},
		{"the same role name in another account",
			Principal{"arn:aws:sts::444455556666:assumed-role/BreachAdmin/alice", "AROAALICEROLE000001:alice"}, "", ErrUnknown},
		{"an unknown user",
			Principal{"arn:aws:iam::111122223333:user/mallory", "AIDAMALLORY00000001"}, "", ErrUnknown},
		{"a role session whose user id names another session",
			Principal{"arn:aws:sts::111122223333:assumed-role/BreachAdmin/alice", "AROAALICEROLE000001:mallory"}, "", ErrMalformed},
		{"a user with a role's id",
			Principal{"arn:aws:iam::111122223333:user/omar", "AROAALICEROLE000001"}, "", ErrMalformed},
		{"a role session with a user's id",
			Principal{"arn:aws:sts::111122223333:assumed-role/BreachAdmin/alice", "AIDAOMARUSER0000001:alice"}, "", ErrMalformed},
		{"no user id", Principal{"arn:aws:iam::111122223333:user/omar", ""}, "", ErrMalformed},
		{"the account root", Principal{"arn:aws:iam::111122223333:root", "111122223333"}, "", ErrMalformed},
		{"a federated user", Principal{"arn:aws:sts::111122223333:federated-user/omar", "111122223333:omar"}, "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Person(tc.p)
			if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("Person = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestPersonListedTwiceAsTwoPeople(t *testing.T) {
	d, err := Parse("arn:aws:iam::111122223333:role/BreachAdmin=alice,AROAALICEROLE000001=bob")
	if err != nil {
		t.Fatal(err)
	}
	p := Principal{"arn:aws:sts::111122223333:assumed-role/BreachAdmin/x", "AROAALICEROLE000001:x"}
	if got, err := d.Person(p); !errors.Is(err, ErrUnknown) {
		t.Errorf("Person = %q, %v; want refused", got, err)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no person", "arn:aws:iam::111122223333:user/omar", "principal=person"},
		{"empty person", "arn:aws:iam::111122223333:user/omar=", "principal=person"},
		{"session for a role whose caller names the session", "arn:aws:iam::111122223333:role/BreachAdmin=" + Session, "Identity Center"},
		{"session for a user", "arn:aws:iam::111122223333:user/omar=" + Session, "Identity Center"},
		{"session for a unique id", "AROAJANEROLE0000001=" + Session, "Identity Center"},
		{"an assumed-role ARN", "arn:aws:sts::111122223333:assumed-role/BreachAdmin/alice=alice", "not an iam ARN"},
		{"a group", "arn:aws:iam::111122223333:group/admins=alice", "not an IAM user or role"},
		{"a short account", "arn:aws:iam::1111:user/omar=omar", "not an iam ARN"},
		{"a person with spaces", "arn:aws:iam::111122223333:user/omar=Omar K", "person"},
		{"a principal twice", "arn:aws:iam::111122223333:user/omar=omar, arn:aws:iam::111122223333:user/OMAR=o2", "twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v, want an error about %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestParseEmptyKnowsNoOne(t *testing.T) {
	d, err := Parse(" ")
	if err != nil || d.Len() != 0 {
		t.Fatalf("Parse(blank) = %v, %v", d, err)
	}
	if _, err := d.Person(Principal{"arn:aws:iam::111122223333:user/omar", "AIDAOMARUSER0000001"}); !errors.Is(err, ErrUnknown) {
		t.Errorf("an empty directory knew omar: %v", err)
	}
}
