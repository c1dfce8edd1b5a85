"""Analysis of trained models against the machine, in reading order: `compare` (the comparison by
length: bit or symbol errors per sequence, per-symbol and sequence accuracy, first divergence),
`verify` (hypothesis searches for a counterexample and shrinks it), `figures` (learning curves,
accuracy against length, the NTM paper's memory-use figure, a machine's space-time diagram),
`claims` (the textbook claims about RNNs, one experiment and one verdict rule per claim: `ntm claims`);
for trace runs (`tasks.trace`): `trace_compare` (the model running free, compared step by step),
`trace_verify` (the first step it leaves the machine, for `verify`), `trace_figures` (its run beside
the machine's); `universal_compare` (the universal interpreter on machine families and named machines),
`universal_shrink` (a universal counterexample's machine shrunk: its input, unused entries, unreachable states)."""
