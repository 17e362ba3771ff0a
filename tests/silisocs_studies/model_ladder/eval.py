print("cooperation evaluator placeholder")
