"""Neural Turing Machines and recurrent baselines, training, and comparison with the machine."""
