print("row counter placeholder")
