// Apply the saved theme before first paint (no flash of the wrong theme). A file rather than an
// inline script: the Content-Security-Policy runs scripts from this site only.
try {
  var t = localStorage.getItem('alice.theme');
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
} catch (e) {}
