// Send through envoi with the official mailgun.js SDK, unchanged: only the
// base URL and the key differ from a Mailgun setup. Prints one JSON line.
const FormData = require('form-data');
const Mailgun = require('mailgun.js');

async function main() {
  const [url, key, domain] = process.argv.slice(2);
  const mg = new Mailgun(FormData).client({ username: 'api', key, url });
  const sent = await mg.messages.create(domain, {
    from: `SDK <sdk@${domain}>`,
    to: ['one@example.org', 'two@example.org'],
    subject: 'Sent with mailgun.js',
    text: 'Hello from the SDK',
    html: '<p>Hello from the SDK</p>',
    'o:tag': ['sdk'],
    'o:testmode': true,
    'h:X-Sdk': 'mailgun.js',
    'v:campaign': 'spring',
    attachment: [{ filename: 'note.txt', data: Buffer.from('attached') }],
  });
  let wrongKey = null;
  try {
    const bad = new Mailgun(FormData).client({ username: 'api', key: 'not-a-key', url });
    await bad.messages.create(domain, { from: `x@${domain}`, to: 'a@example.org', text: 'x' });
  } catch (e) {
    wrongKey = e.status;
  }
  console.log(JSON.stringify({ sent, wrongKeyStatus: wrongKey }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
