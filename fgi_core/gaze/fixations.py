"""Read, validate and write fixation CSVs in the GazeMedSeg format. (being written: helper B)"""
