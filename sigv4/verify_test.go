package sigv4

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Markers selecting the captures the tampering cases start from.
const (
	cliTokenCapture = "Signature=411749179b2c6326feaf581de83022b915f34626f0cc90fb8a7fdb7045b570e6"
	jsDescribe      = "Signature=fa0987c7f893ef025da707264223ec630c24aa32bc4531d04b5da08448d5846d"
	wsViewer        = "X-Amz-Signature=f2a2f29b34b2e25a8bc0538b574c77221e4818b3d364e3ec74e062c062d3272f"
	wsMaster        = "X-Amz-Signature=e6593499ad62893b40a4e095ecca9f6cc1e53bf66e5782c6dc2dce42cdfcf1a6"
)

// edit rewrites the raw text of a captured request.
type edit func(t testing.TB, raw string) string

// replace substitutes the first occurrence of old, failing if it is absent.
func replace(old, new string) edit {
	return func(t testing.TB, raw string) string {
		t.Helper()
		if !strings.Contains(raw, old) {
			t.Fatalf("capture does not contain %q", old)
		}
		return strings.Replace(raw, old, new, 1)
	}
}

// setHeaderLine replaces the whole line of a header (matched case-insensitively);
// an empty line value deletes the header.
func setHeaderLine(name, line string) edit {
	re := regexp.MustCompile(`(?mi)^` + regexp.QuoteMeta(name) + `: .*\n`)
	return func(t testing.TB, raw string) string {
		t.Helper()
		if !re.MatchString(raw) {
			t.Fatalf("capture has no %s header", name)
		}
		if line != "" {
			line += "\n"
		}
		return re.ReplaceAllLiteralString(raw, line)
	}
}

// setAuth replaces the Authorization header value.
func setAuth(value string) edit { return setHeaderLine("Authorization", "Authorization: "+value) }

// addHeader inserts a header line after the request line.
func addHeader(line string) edit {
	return func(_ testing.TB, raw string) string {
		first, rest, _ := strings.Cut(raw, "\n")
		return first + "\n" + line + "\n" + rest
	}
}

// Verifier tweaks; base is the captured request's X-Amz-Date.
type tweak func(v *Verifier, base time.Time)

func clockAt(d time.Duration) tweak {
	return func(v *Verifier, base time.Time) { v.Now = func() time.Time { return base.Add(d) } }
}

func lookupWith(fn SecretLookup) tweak { return func(v *Verifier, _ time.Time) { v.Lookup = fn } }

var errStoreDown = errors.New("store unavailable")

const goodCred = "Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-west-2/kinesisvideo/aws4_request"
const goodSig = "Signature=411749179b2c6326feaf581de83022b915f34626f0cc90fb8a7fdb7045b570e6"
const goodSigned = "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"

type verifyCase struct {
	name    string
	capture string
	edits   []edit
	tweak   tweak
	want    error  // nil: must verify
	code    string // expected Error.Code
	prefix  string // expected start of Error.Message, if any
}

func headerCases() []verifyCase {
	const c = cliTokenCapture
	incomplete := func(name, auth string) verifyCase {
		return verifyCase{name: "malformed auth: " + name, capture: c, edits: []edit{setAuth(auth)},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature}
	}
	return []verifyCase{
		{name: "untouched", capture: c},
		{name: "tampered body", capture: c, edits: []edit{replace(`"demo-channel"}`, `"demo-channex"}`)},
			want: ErrSignatureMismatch, code: CodeInvalidSignature, prefix: "The request signature we calculated"},
		{name: "tampered signed header", capture: c, edits: []edit{replace("application/json", "application/jsox")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "tampered session token", capture: c, edits: []edit{replace("Token: FQoG", "Token: FQoH")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "tampered date", capture: c, edits: []edit{replace("X-Amz-Date: 20261121T210638Z", "X-Amz-Date: 20261121T210639Z")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "tampered host", capture: c, edits: []edit{replace("Host: 127.0.0.1:18080", "Host: 127.0.0.1:18081")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "tampered path", capture: c, edits: []edit{replace("POST /describeSignalingChannel", "POST /deleteSignalingChannel")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "added query", capture: c, edits: []edit{replace("/describeSignalingChannel ", "/describeSignalingChannel?x=1 ")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "unsigned header changed", capture: c, edits: []edit{replace("attempt=1", "attempt=2")}},
		{name: "wrong region", capture: c, tweak: func(v *Verifier, _ time.Time) { v.Region = "eu-west-1" },
			want: ErrScopeMismatch, code: CodeInvalidSignature, prefix: "Credential should be scoped to a valid region."},
		{name: "any region", capture: c, tweak: func(v *Verifier, _ time.Time) { v.Region = "" }},
		{name: "wrong service", capture: c, tweak: func(v *Verifier, _ time.Time) { v.Service = "kinesis-video-signaling" },
			want: ErrScopeMismatch, code: CodeInvalidSignature, prefix: "Credential should be scoped to correct service: 'kinesis-video-signaling'."},
		{name: "scope date is not the request day", capture: c, edits: []edit{replace("/20261121/", "/20261120/")},
			want: ErrScopeMismatch, code: CodeInvalidSignature, prefix: "Date in Credential scope does not match"},
		{name: "odd region characters", capture: c, edits: []edit{replace("/us-west-2/", "/US:west/")},
			tweak: func(v *Verifier, _ time.Time) { v.Region = "" }, want: ErrScopeMismatch, code: CodeInvalidSignature},
		{name: "wrong secret", capture: c,
			tweak: lookupWith(func(context.Context, string) (string, error) { return "not-the-secret", nil }),
			want:  ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "unknown access key", capture: c, edits: []edit{replace("Credential=AKIAIOSFODNN7EXAMPLE", "Credential=AKIAUNKNOWNKEY00000")},
			want: ErrUnknownAccessKey, code: CodeUnrecognizedClient, prefix: "The security token included in the request is invalid."},
		{name: "lookup failure", capture: c,
			tweak: lookupWith(func(context.Context, string) (string, error) { return "", errStoreDown }),
			want:  ErrLookupFailed, code: CodeInternalFailure},
		{name: "empty secret", capture: c,
			tweak: lookupWith(func(context.Context, string) (string, error) { return "", nil }),
			want:  ErrLookupFailed, code: CodeInternalFailure},
		{name: "no lookup", capture: c, tweak: lookupWith(nil), want: ErrLookupFailed, code: CodeInternalFailure},
		{name: "missing auth", capture: c, edits: []edit{setHeaderLine("Authorization", "")},
			want: ErrMissingAuthentication, code: CodeMissingAuthenticationToken},
		{name: "two authorization headers", capture: c, edits: []edit{addHeader("Authorization: AWS4-HMAC-SHA256 x")},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature},
		incomplete("algorithm only", "AWS4-HMAC-SHA256"),
		incomplete("bearer", "Bearer abc.def"),
		incomplete("wrong algorithm", "AWS4-HMAC-SHA512 "+goodCred+", "+goodSigned+", "+goodSig),
		incomplete("missing signature", "AWS4-HMAC-SHA256 "+goodCred+", "+goodSigned),
		incomplete("missing credential", "AWS4-HMAC-SHA256 "+goodSigned+", "+goodSig),
		incomplete("credential with four parts", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-west-2/kinesisvideo, "+goodSigned+", "+goodSig),
		incomplete("credential with bad terminator", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-west-2/kinesisvideo/aws5_request, "+goodSigned+", "+goodSig),
		incomplete("credential with bad date", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/2026-11-21/us-west-2/kinesisvideo/aws4_request, "+goodSigned+", "+goodSig),
		incomplete("empty access key", "AWS4-HMAC-SHA256 Credential=/20261121/us-west-2/kinesisvideo/aws4_request, "+goodSigned+", "+goodSig),
		incomplete("short signature", "AWS4-HMAC-SHA256 "+goodCred+", "+goodSigned+", Signature=4117"),
		incomplete("non-hex signature", "AWS4-HMAC-SHA256 "+goodCred+", "+goodSigned+", "+strings.Replace(goodSig, "4117", "zz17", 1)),
		incomplete("repeated element", "AWS4-HMAC-SHA256 "+goodCred+", "+goodSigned+", "+goodSigned+", "+goodSig),
		incomplete("unknown element", "AWS4-HMAC-SHA256 "+goodCred+", "+goodSigned+", Foo=bar, "+goodSig),
		incomplete("element without value", "AWS4-HMAC-SHA256 "+goodCred+", SignedHeaders, "+goodSig),
		incomplete("empty signed headers", "AWS4-HMAC-SHA256 "+goodCred+", SignedHeaders=, "+goodSig),
		incomplete("upper-case signed header", "AWS4-HMAC-SHA256 "+goodCred+", SignedHeaders=content-type;Host;x-amz-date, "+goodSig),
		incomplete("host not signed", "AWS4-HMAC-SHA256 "+goodCred+", SignedHeaders=content-type;x-amz-date;x-amz-security-token, "+goodSig),
		incomplete("date not signed", "AWS4-HMAC-SHA256 "+goodCred+", SignedHeaders=content-type;host;x-amz-security-token, "+goodSig),
		{name: "parameters reordered, no spaces", capture: c,
			edits: []edit{setAuth("AWS4-HMAC-SHA256 " + goodSig + "," + goodSigned + "," + goodCred)}},
		{name: "missing date", capture: c, edits: []edit{setHeaderLine("X-Amz-Date", "")},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature, prefix: "Authorization header requires existence of either"},
		{name: "malformed date", capture: c, edits: []edit{replace("X-Amz-Date: 20261121T210638Z", "X-Amz-Date: 2026-11-21T21:06:38Z")},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature},
		{name: "content-sha256 differs from body", capture: c, edits: []edit{addHeader("X-Amz-Content-Sha256: " + EmptyPayloadHash)},
			want: ErrSignatureMismatch, code: CodeInvalidSignature, prefix: "The provided 'x-amz-content-sha256' header"},
		{name: "signed content-sha256 differs from body", capture: jsDescribe, edits: []edit{replace(`"demo-channel"}`, `"demo-channex"}`)},
			want: ErrSignatureMismatch, code: CodeInvalidSignature, prefix: "The provided 'x-amz-content-sha256' header"},
		{name: "old request", capture: c, tweak: clockAt(16 * time.Minute), want: ErrSignatureExpired, code: CodeInvalidSignature,
			prefix: "Signature expired: 20261121T210638Z is now earlier than 20261121T210738Z (20261121T212238Z - 15 min.)"},
		{name: "future request", capture: c, tweak: clockAt(-16 * time.Minute), want: ErrSignatureNotYetCurrent, code: CodeInvalidSignature,
			prefix: "Signature not yet current: 20261121T210638Z is still later than 20261121T210538Z (20261121T205038Z + 15 min.)"},
		{name: "inside skew, past", capture: c, tweak: clockAt(15 * time.Minute)},
		{name: "inside skew, future", capture: c, tweak: clockAt(-15 * time.Minute)},
		{name: "custom skew", capture: c, tweak: func(v *Verifier, base time.Time) {
			v.MaxSkew = 5 * time.Minute
			v.Now = func() time.Time { return base.Add(6 * time.Minute) }
		}, want: ErrSignatureExpired, code: CodeInvalidSignature, prefix: "Signature expired: "},
	}
}

func presignCases() []verifyCase {
	const c = wsViewer
	expires := func(v string) verifyCase {
		return verifyCase{name: "expires " + v, capture: c, edits: []edit{replace("X-Amz-Expires=299", "X-Amz-Expires="+v)},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature, prefix: "X-Amz-Expires must be"}
	}
	return []verifyCase{
		{name: "presigned untouched", capture: c},
		{name: "presigned master with token", capture: wsMaster},
		{name: "tampered channel ARN", capture: c, edits: []edit{replace("1700000000000&", "1700000000001&")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "tampered client id", capture: c, edits: []edit{replace("X-Amz-ClientId=viewer-1", "X-Amz-ClientId=viewer-2")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "client id removed", capture: c, edits: []edit{replace("&X-Amz-ClientId=viewer-1", "")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "unsigned parameter added", capture: c, edits: []edit{replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=host&X-Amz-Role=MASTER")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "tampered token", capture: wsMaster, edits: []edit{replace("Token=FQoG", "Token=FQoH")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "tampered host", capture: c, edits: []edit{replace("host: 127.0.0.1:18443", "host: 127.0.0.1:443")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "parameters in another order", capture: c, edits: []edit{
			replace("X-Amz-Algorithm=AWS4-HMAC-SHA256&", ""),
			replace(" HTTP/1.1", "&X-Amz-Algorithm=AWS4-HMAC-SHA256 HTTP/1.1")}},
		{name: "lower-case percent escapes", capture: c, edits: []edit{replace("%3Aaws%3A", "%3aaws%3a")}},
		{name: "expired URL", capture: c, tweak: clockAt(300 * time.Second), want: ErrSignatureExpired, code: CodeInvalidSignature,
			prefix: "Signature expired: 20261121T210822Z is now earlier than 20261121T210823Z (20261121T211322Z - 299 sec.)"},
		{name: "last valid second", capture: c, tweak: clockAt(299 * time.Second)},
		{name: "URL from the future", capture: c, tweak: clockAt(-6 * time.Minute), want: ErrSignatureNotYetCurrent,
			code: CodeInvalidSignature, prefix: "Signature not yet current: "},
		{name: "URL inside presign skew", capture: c, tweak: clockAt(-5 * time.Minute)},
		expires("0"), expires("604801"), expires("abc"), expires("-5"), expires("+5"), expires(""), expires("1e3"),
		{name: "expires 604800 re-signed elsewhere", capture: c, edits: []edit{replace("X-Amz-Expires=299", "X-Amz-Expires=604800")},
			want: ErrSignatureMismatch, code: CodeInvalidSignature},
		{name: "signature missing", capture: c, edits: []edit{replace("&"+wsViewer, "")},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature},
		{name: "no presign parameters", capture: c, edits: []edit{replaceRequestLine("GET /?X-Amz-ChannelARN=arn HTTP/1.1")},
			want: ErrMissingAuthentication, code: CodeMissingAuthenticationToken},
		{name: "no query at all", capture: c, edits: []edit{replaceRequestLine("GET / HTTP/1.1")},
			want: ErrMissingAuthentication, code: CodeMissingAuthenticationToken},
		{name: "duplicate date", capture: c, edits: []edit{replace("X-Amz-Expires=299", "X-Amz-Expires=299&X-Amz-Date=20261121T210822Z")},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature},
		{name: "wrong algorithm", capture: c, edits: []edit{replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1")},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature},
		{name: "host not signed", capture: c, edits: []edit{replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=upgrade")},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature},
		{name: "malformed presigned date", capture: c, edits: []edit{replace("X-Amz-Date=20261121T210822Z", "X-Amz-Date=20261121")},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature},
		{name: "bad escape", capture: c, edits: []edit{replace("viewer-1", "viewer%ZZ")},
			want: ErrIncompleteSignature, code: CodeIncompleteSignature},
		{name: "presigned wrong region", capture: c, tweak: func(v *Verifier, _ time.Time) { v.Region = "eu-west-1" },
			want: ErrScopeMismatch, code: CodeInvalidSignature},
		{name: "presigned wrong service", capture: c, tweak: func(v *Verifier, _ time.Time) { v.Service = "s3" },
			want: ErrScopeMismatch, code: CodeInvalidSignature},
		{name: "presigned unknown key", capture: c, edits: []edit{replace("Credential=AKIAIOSFODNN7EXAMPLE", "Credential=AKIAUNKNOWNKEY00000")},
			want: ErrUnknownAccessKey, code: CodeUnrecognizedClient},
		{name: "presigned wrong secret", capture: c,
			tweak: lookupWith(func(context.Context, string) (string, error) { return "nope", nil }),
			want:  ErrSignatureMismatch, code: CodeInvalidSignature},
	}
}

// replaceRequestLine swaps the first line of the request.
func replaceRequestLine(line string) edit {
	return func(_ testing.TB, raw string) string {
		_, rest, _ := strings.Cut(raw, "\n")
		return line + "\n" + rest
	}
}

func TestVerifyTampering(t *testing.T) {
	for _, tt := range append(headerCases(), presignCases()...) {
		t.Run(tt.name, func(t *testing.T) {
			c := findCapture(t, tt.capture)
			orig, _ := readRequest(t, c.raw)
			base := signedDate(t, orig)
			raw := c.raw
			for _, e := range tt.edits {
				raw = e(t, raw)
			}
			r, body := readRequest(t, raw)
			v := verifierAt(base)
			if tt.tweak != nil {
				tt.tweak(v, base)
			}
			res, err := verifyCapture(t, v, r, body, c.presigned())
			checkVerifyError(t, res, err, tt)
		})
	}
}

// checkVerifyError asserts the outcome a case expects.
func checkVerifyError(t *testing.T, res *Result, err error, tt verifyCase) {
	t.Helper()
	if tt.want == nil {
		if err != nil || res == nil {
			t.Fatalf("want success, got %v", err)
		}
		return
	}
	if res != nil {
		t.Errorf("got a Result with an error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if !errors.Is(err, tt.want) {
		t.Errorf("error %v does not wrap %v", err, tt.want)
	}
	if e.Code != tt.code {
		t.Errorf("Code = %q, want %q (%s)", e.Code, tt.code, e.Message)
	}
	if !strings.HasPrefix(e.Message, tt.prefix) {
		t.Errorf("Message = %q, want prefix %q", e.Message, tt.prefix)
	}
}

func TestLookupFailureKeepsCause(t *testing.T) {
	r, body := readRequest(t, findCapture(t, cliTokenCapture).raw)
	v := verifierAt(signedDate(t, r))
	v.Lookup = func(context.Context, string) (string, error) { return "", errStoreDown }
	_, err := v.VerifyRequest(r, body)
	if !errors.Is(err, ErrLookupFailed) || !errors.Is(err, errStoreDown) {
		t.Fatalf("err = %v, want both ErrLookupFailed and the lookup's error", err)
	}
	if strings.Contains(err.(*Error).Message, errStoreDown.Error()) {
		t.Errorf("client-facing message leaks the internal error: %q", err.(*Error).Message)
	}
}

func TestVerifyNilRequest(t *testing.T) {
	v := verifierAt(time.Now())
	for name, call := range map[string]func() (*Result, error){
		"header":    func() (*Result, error) { return v.VerifyRequest(nil, nil) },
		"presigned": func() (*Result, error) { return v.VerifyPresigned(nil) },
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := call(); !errors.Is(err, ErrMissingAuthentication) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestMismatchReportsCanonicalRequest(t *testing.T) {
	raw := replace("application/json", "application/jsox")(t, findCapture(t, cliTokenCapture).raw)
	r, body := readRequest(t, raw)
	_, err := verifierAt(signedDate(t, r)).VerifyRequest(r, body)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.CanonicalRequest, "content-type:application/jsox\n") {
		t.Fatalf("err = %v, canonical request %q", err, e.CanonicalRequest)
	}
}
