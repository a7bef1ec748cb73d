"""Notebook 10: fraud detection on imbalanced data, with oversampling done without leakage.

``data``            the credit-card transactions: loading, a stratified split, standardising on train only
``resampling``      the rebalancing methods (class weights, and imbalanced-learn's samplers)
``model``           the MLP classifier and its analytic parameter count
``training``        Adam + weighted binary cross-entropy through the core training loop (checkpoints, resume)
``scoring``         metrics for a rare class, and the decision threshold chosen on validation
``neighbourhoods``  where synthetic frauds lie: legitimate neighbours, and the real fraud each one came from
``leakage``         the leakage experiment: oversampling everything before the split
``costs``           memory and time of the full profile, from the architecture and a measured run
``plots``           the notebook's figures
``fixtures``        the synthetic card transactions of the smoke profile
"""
